import { openObjectStore, type S3Settings } from '../objects';
import { ObjectWitness } from './witness';

/** A witness for a location: `s3://bucket/prefix` (with `s3` client settings), else a folder path. */
export function openWitness(location: string, s3?: S3Settings): ObjectWitness {
  return new ObjectWitness(openObjectStore(location, 'witness', s3));
}
