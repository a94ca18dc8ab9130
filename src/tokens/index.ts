export { ROLES, TOKEN_PREFIX, newToken, parseToken, secretHash, secretMatches, signGrant, grantSignedBy } from './grant';
export type { Role, TokenGrant, PresentedToken } from './grant';
