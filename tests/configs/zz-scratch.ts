import { prepareConfig, initBackend, MODELS } from '@tsdet/core';
import { registerData } from '@tsdet/data';
import { registerDetectors } from '../../packages/models/src/detectors/register-detectors.js';
await initBackend({ backend: 'wasm', verbose: false });
registerDetectors();
registerData();
for (const f of process.argv.slice(2)) {
  try {
    const { resolved } = await prepareConfig(f, { cfgOptions: ['model.backbone.init_cfg=null'] });
    console.log('OK', f, Object.keys(resolved).join(','));
    const t = Date.now();
    const m = MODELS.build(resolved.model, { path: 'model' });
    console.log('built in', Date.now() - t, 'ms');
  } catch (e) { console.log('ERR', f, (e as Error).message); }
}
