// The configuration: its schema (config/schema.ts) and its loader (config/loader.ts).
export * from './config/schema.js';
export * from './config/loader.js';
