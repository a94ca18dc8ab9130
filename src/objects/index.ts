import { FolderObjectStore } from './folder';
import { S3ObjectStore, type S3Settings } from './s3';
import type { ObjectStore } from './store';

export { updateObject, type ObjectStore, type PutOptions, type VersionedObject } from './store';
export { FolderObjectStore } from './folder';
export { S3ObjectStore, type ObjectLockMode, type S3Settings } from './s3';

/**
 * The object store at a location: `s3://bucket/prefix` (with `s3` client settings), else
 * a folder path. `label` names it in error messages ("witness", "archive").
 */
export function openObjectStore(location: string, label: string, s3?: S3Settings): ObjectStore {
  if (location.startsWith('s3://')) return new S3ObjectStore(location, s3 ?? {}, label);
  return new FolderObjectStore(location, label);
}
