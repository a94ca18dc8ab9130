export { buildService, API_VERSION } from './server';
export type { ServiceOptions, VaultService } from './server';
export type { EndpointInfo } from './endpoint';
export { correlationFrom } from './correlation';
export { statusOf } from './http-errors';
export { openApiDocument } from './openapi';
