/**
 * mmengine's LocalVisBackend: scalars appended as JSON lines to `<log_dir>/vis_data/scalars.json`
 * and `<log_dir>/vis_data/<timestamp>.json`, each record with its `step`; the config saved once
 * as `vis_data/config.json`. tools/analyze-logs.ts reads these files.
 */
import fs from 'node:fs';
import path from 'node:path';

export class LocalVisBackend {
  readonly saveDir: string;
  readonly scalarFile: string;
  readonly timestampedFile: string;

  constructor(logDir: string, timestamp: string) {
    this.saveDir = path.join(logDir, 'vis_data');
    this.scalarFile = path.join(this.saveDir, 'scalars.json');
    this.timestampedFile = path.join(this.saveDir, `${timestamp}.json`);
    fs.mkdirSync(this.saveDir, { recursive: true });
  }

  addScalars(scalars: Record<string, number | string>, step: number): void {
    const record = `${JSON.stringify({ ...scalars, step })}\n`;
    fs.appendFileSync(this.scalarFile, record);
    fs.appendFileSync(this.timestampedFile, record);
  }

  addConfig(config: unknown): void {
    fs.writeFileSync(path.join(this.saveDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }
}
