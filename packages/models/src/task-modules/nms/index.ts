export * from './nms-core.js';
export * from './nms.js';
export * from './nms.schema.js';
