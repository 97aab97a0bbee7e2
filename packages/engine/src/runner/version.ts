import fs from 'node:fs';

/** The tsdet version recorded in checkpoints and logs (this package's version). */
export const TSDET_VERSION: string = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
