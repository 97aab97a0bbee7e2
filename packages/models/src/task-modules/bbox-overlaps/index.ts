export * from './bbox-overlaps.js';
