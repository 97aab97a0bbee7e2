/** Registers every built-in exporter (each file registers its own on import). */
import './layers.js';
import './resnet.js';
import './fpn.js';
import './plugins.js';
import './detector.js';

export {};
