export * from './errors.ts';
export * from './subjects.ts';
export * from './identifiers.ts';
export * from './registry.ts';
export * from './query.ts';
export * from './http.ts';
export * from './chunks.ts';
export * from './async.ts';
