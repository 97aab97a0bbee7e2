export * from './init-backend.js';
