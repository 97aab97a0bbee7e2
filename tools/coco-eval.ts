/**
 * tools/coco-eval.ts ANNOTATIONS.json RESULTS.json [--json]
 *
 * COCO bbox evaluation with pycocotools' semantics: prints the twelve summary lines of
 * COCOeval.summarize(), or with --json one object with the twelve numbers. A missing or
 * malformed file, or a result naming an image or category that the annotations lack, is one
 * line naming the file, with exit status 1.
 */
import { Command } from 'commander';
import { evaluateCocoBbox, formatCocoSummary, loadCocoAnnotations, loadCocoResults } from '@tsdet/data';

const program = new Command()
  .name('coco-eval')
  .argument('<annotations>', 'COCO annotation file (instances_*.json)')
  .argument('<results>', 'COCO results file: a list of {image_id, category_id, bbox: [x, y, w, h], score}')
  .option('--json', 'print one JSON object with the twelve numbers')
  .parse();

const options = program.opts<{ json?: boolean }>();
const [annFile, resFile] = program.args as [string, string];

try {
  const gt = loadCocoAnnotations(annFile);
  const dets = loadCocoResults(resFile, gt, annFile);
  const s = evaluateCocoBbox(gt, dets, { check: false });
  if (options.json) {
    const { AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl } = s;
    console.log(JSON.stringify({ AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl }, null, 2));
  } else {
    for (const line of formatCocoSummary(s)) console.log(line);
  }
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
