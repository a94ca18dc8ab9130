export { ROLES, TOKEN_PREFIX, TOKEN_ID_PATTERN, newToken, parseToken, secretHash, secretMatches, signGrant, grantSignedBy } from './grant';
export type { Role, TokenGrant, PresentedToken } from './grant';
