export * from './init-backend.js';
export * from './buffer-meter.js';
