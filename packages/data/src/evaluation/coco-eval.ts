/**
 * COCO bbox evaluation with the semantics of pycocotools' COCOeval (iouType 'bbox'): written
 * from its documented behaviour, not ported. See docs/evaluation.md.
 */
import { checkCocoAnnotations, checkCocoResults, type CocoAnnotations, type CocoBox, type CocoResult } from './coco-types.js';

/** numpy.linspace(start, stop, num): start + i·step, the last value set to stop. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

/** IoU thresholds .5:.05:.95 as numpy computes them. */
export const COCO_IOU_THRS: readonly number[] = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
/** Recall thresholds 0:.01:1. */
export const COCO_REC_THRS: readonly number[] = linspace(0, 1, Math.round(1 / 0.01) + 1);
export const COCO_AREA_RANGES = {
  all: [0, 1e10],
  small: [0, 32 ** 2],
  medium: [32 ** 2, 96 ** 2],
  large: [96 ** 2, 1e10],
} as const satisfies Record<string, readonly [number, number]>;
const AREA_NAMES = ['all', 'small', 'medium', 'large'] as const;

export interface CocoEvalOptions {
  /** IoU thresholds (default .5:.05:.95). AP50/AP75 are -1 if 0.5/0.75 are not among them. */
  readonly iouThrs?: readonly number[];
  /** Three detection limits per image (default [1, 10, 100]); AP uses the last. */
  readonly maxDets?: readonly [number, number, number];
  /** Check results against the annotations first (default true). */
  readonly check?: boolean;
}

export interface CocoBboxSummary {
  /** The twelve numbers of COCOeval.stats, in its order. */
  readonly stats: readonly number[];
  readonly AP: number;
  readonly AP50: number;
  readonly AP75: number;
  readonly APs: number;
  readonly APm: number;
  readonly APl: number;
  readonly AR1: number;
  readonly AR10: number;
  readonly AR100: number;
  readonly ARs: number;
  readonly ARm: number;
  readonly ARl: number;
  /** AP over all IoU thresholds, area 'all', the largest maxDets, per category (-1 without gts). */
  readonly perCategory: readonly { readonly categoryId: number; readonly name?: string; readonly AP: number }[];
  readonly iouThrs: readonly number[];
  readonly maxDets: readonly [number, number, number];
}

interface Gt {
  readonly box: CocoBox;
  readonly area: number;
  readonly crowd: boolean;
}
interface Det {
  readonly box: CocoBox;
  readonly area: number;
  readonly score: number;
}

/** Per image, category and area range: what accumulation needs (pycocotools' evaluateImg). */
interface ImageEval {
  readonly scores: number[];
  /** matched[t][d]: detection d matched a gt at threshold t. */
  readonly matched: boolean[][];
  /** ignored[t][d]: detection d ignored at threshold t. */
  readonly ignored: boolean[][];
  /** Number of gts that are not ignored. */
  readonly numGts: number;
}

/** pycocotools' bbox IoU: crowd gts divide the intersection by the detection's area. */
function boxIou(d: CocoBox, g: CocoBox, crowd: boolean): number {
  const w = Math.min(d[0] + d[2], g[0] + g[2]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[1] + d[3], g[1] + g[3]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const inter = w * h;
  const da = d[2] * d[3];
  const union = crowd ? da : da + g[2] * g[3] - inter;
  return inter / union;
}

/** Indices sorted by key, ties kept in input order (numpy's mergesort). */
function stableOrder<T>(items: readonly T[], key: (item: T) => number): number[] {
  return items.map((_, i) => i).sort((a, b) => key(items[a]!) - key(items[b]!) || a - b);
}

function evaluateImage(gts: readonly Gt[], detsByScore: readonly Det[], range: readonly [number, number], maxDet: number, iouThrs: readonly number[]): ImageEval | undefined {
  if (gts.length === 0 && detsByScore.length === 0) return undefined;
  const outside = (area: number) => area < range[0] || area > range[1];
  const gtIgnoredRaw = gts.map((g) => g.crowd || outside(g.area));
  const gtOrder = stableOrder(gtIgnoredRaw, Number);
  const sortedGts = gtOrder.map((i) => gts[i]!);
  const gtIgnored = gtOrder.map((i) => gtIgnoredRaw[i]!);
  const dets = detsByScore.slice(0, maxDet);
  const ious = dets.map((d) => sortedGts.map((g) => boxIou(d.box, g.box, g.crowd)));
  const matched: boolean[][] = [];
  const ignored: boolean[][] = [];
  for (const thr of iouThrs) {
    const gtTaken = new Array<boolean>(sortedGts.length).fill(false);
    const dtMatched = new Array<boolean>(dets.length).fill(false);
    const dtIgnored = new Array<boolean>(dets.length).fill(false);
    dets.forEach((det, d) => {
      let best = Math.min(thr, 1 - 1e-10);
      let m = -1;
      for (let g = 0; g < sortedGts.length; g++) {
        if (gtTaken[g] && !sortedGts[g]!.crowd) continue;
        // Matched to a regular gt already, and only ignored gts remain.
        if (m > -1 && !gtIgnored[m] && gtIgnored[g]) break;
        if (ious[d]![g]! < best) continue;
        best = ious[d]![g]!;
        m = g;
      }
      if (m === -1) {
        dtIgnored[d] = outside(det.area);
        return;
      }
      dtMatched[d] = true;
      dtIgnored[d] = gtIgnored[m]!;
      gtTaken[m] = true;
    });
    matched.push(dtMatched);
    ignored.push(dtIgnored);
  }
  return { scores: dets.map((d) => d.score), matched, ignored, numGts: gtIgnored.filter((x) => !x).length };
}

/** Precision (101 recall points, mean) and recall of one category/area/maxDets over images, per threshold. */
function accumulate(evals: readonly ImageEval[], maxDet: number, numThrs: number): { precision: number[][]; recall: number[] } | undefined {
  const numGts = evals.reduce((n, e) => n + e.numGts, 0);
  if (numGts === 0) return undefined;
  const scores: number[] = [];
  const matched: boolean[][] = Array.from({ length: numThrs }, () => []);
  const ignored: boolean[][] = Array.from({ length: numThrs }, () => []);
  for (const e of evals) {
    const n = Math.min(maxDet, e.scores.length);
    scores.push(...e.scores.slice(0, n));
    for (let t = 0; t < numThrs; t++) {
      matched[t]!.push(...e.matched[t]!.slice(0, n));
      ignored[t]!.push(...e.ignored[t]!.slice(0, n));
    }
  }
  const order = stableOrder(scores, (s) => -s);
  const precision: number[][] = [];
  const recall: number[] = [];
  for (let t = 0; t < numThrs; t++) {
    const rc: number[] = [];
    const pr: number[] = [];
    let tp = 0;
    let fp = 0;
    for (const i of order) {
      if (!ignored[t]![i]) {
        if (matched[t]![i]) tp++;
        else fp++;
      }
      rc.push(tp / numGts);
      pr.push(tp / (tp + fp + Number.EPSILON));
    }
    recall.push(rc.length ? rc[rc.length - 1]! : 0);
    for (let i = pr.length - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
    const q = COCO_REC_THRS.map((r) => {
      // numpy.searchsorted(rc, r, side='left'): first index with rc[i] >= r.
      let lo = 0;
      let hi = rc.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (rc[mid]! < r) lo = mid + 1;
        else hi = mid;
      }
      return lo < pr.length ? pr[lo]! : 0;
    });
    precision.push(q);
  }
  return { precision, recall };
}

/** Mean of the entries > -1, or -1 if there are none (pycocotools' summarize). */
function meanValid(values: readonly number[]): number {
  const valid = values.filter((v) => v > -1);
  return valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : -1;
}

/**
 * pycocotools COCOeval(gt, dt, 'bbox').evaluate(); accumulate(); summarize(): the twelve stats.
 * Images and categories are those of `gt`; results must name only those (checked unless `check: false`).
 */
export function evaluateCocoBbox(gt: CocoAnnotations, dets: readonly CocoResult[], options: CocoEvalOptions = {}): CocoBboxSummary {
  if (options.check ?? true) {
    checkCocoAnnotations(gt);
    checkCocoResults(dets, gt);
  }
  const iouThrs = options.iouThrs ?? COCO_IOU_THRS;
  const maxDets = options.maxDets ?? [1, 10, 100];
  const topDets = maxDets[2];
  const imgIds = [...new Set(gt.images.map((i) => i.id))].sort((a, b) => a - b);
  const categories = [...new Map(gt.categories.map((c) => [c.id, c])).values()].sort((a, b) => a.id - b.id);
  const key = (img: number, cat: number) => `${img}/${cat}`;
  const gtsByKey = new Map<string, Gt[]>();
  for (const a of gt.annotations) {
    const k = key(a.image_id, a.category_id);
    const list = gtsByKey.get(k) ?? [];
    list.push({ box: a.bbox, area: a.area ?? a.bbox[2] * a.bbox[3], crowd: Boolean(a.iscrowd) });
    gtsByKey.set(k, list);
  }
  const detsByKey = new Map<string, Det[]>();
  for (const d of dets) {
    const k = key(d.image_id, d.category_id);
    const list = detsByKey.get(k) ?? [];
    list.push({ box: d.bbox, area: d.bbox[2] * d.bbox[3], score: d.score });
    detsByKey.set(k, list);
  }
  for (const [k, list] of detsByKey) {
    detsByKey.set(k, stableOrder(list, (d) => -d.score).slice(0, topDets).map((i) => list[i]!));
  }

  // precision[t][r][k][a][m] is only ever averaged, so keep per (k, a, m) the list over t.
  const apByCatArea: (number[][] | undefined)[][][] = [];
  const arByCatArea: (number[] | undefined)[][][] = [];
  for (const cat of categories) {
    const apRow: (number[][] | undefined)[][] = [];
    const arRow: (number[] | undefined)[][] = [];
    for (const areaName of AREA_NAMES) {
      const range = COCO_AREA_RANGES[areaName];
      const evals: ImageEval[] = [];
      for (const img of imgIds) {
        const e = evaluateImage(gtsByKey.get(key(img, cat.id)) ?? [], detsByKey.get(key(img, cat.id)) ?? [], range, topDets, iouThrs);
        if (e) evals.push(e);
      }
      const apCell: (number[][] | undefined)[] = [];
      const arCell: (number[] | undefined)[] = [];
      for (const m of maxDets) {
        const acc = accumulate(evals, m, iouThrs.length);
        apCell.push(acc?.precision);
        arCell.push(acc?.recall);
      }
      apRow.push(apCell);
      arRow.push(arCell);
    }
    apByCatArea.push(apRow);
    arByCatArea.push(arRow);
  }

  const thrIndex = (thr: number | undefined) => (thr === undefined ? iouThrs.map((_, i) => i) : iouThrs.flatMap((v, i) => (Math.abs(v - thr) < 1e-12 ? [i] : [])));
  const ap = (area: number, m: number, thr?: number): number => {
    const ts = thrIndex(thr);
    const values: number[] = [];
    for (const row of apByCatArea) {
      const p = row[area]![m];
      for (const t of ts) values.push(...(p ? p[t]! : COCO_REC_THRS.map(() => -1)));
    }
    return meanValid(values);
  };
  const ar = (area: number, m: number): number => {
    const values: number[] = [];
    for (const row of arByCatArea) {
      const r = row[area]![m];
      for (let t = 0; t < iouThrs.length; t++) values.push(r ? r[t]! : -1);
    }
    return meanValid(values);
  };
  const stats = [ap(0, 2), ap(0, 2, 0.5), ap(0, 2, 0.75), ap(1, 2), ap(2, 2), ap(3, 2), ar(0, 0), ar(0, 1), ar(0, 2), ar(1, 2), ar(2, 2), ar(3, 2)];
  const perCategory = categories.map((cat, k) => {
    const p = apByCatArea[k]![0]![2];
    return { categoryId: cat.id, ...(cat.name === undefined ? {} : { name: cat.name }), AP: p ? meanValid(p.flat()) : -1 };
  });
  const [AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl] = stats as [number, number, number, number, number, number, number, number, number, number, number, number];
  return { stats, AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl, perCategory, iouThrs: [...iouThrs], maxDets: [...maxDets] };
}

/** pycocotools' summarize() lines for a summary. */
export function formatCocoSummary(summary: CocoBboxSummary): string[] {
  const { iouThrs, maxDets } = summary;
  const rows: [boolean, string | undefined, string, number][] = [
    [true, undefined, 'all', maxDets[2]],
    [true, '0.50', 'all', maxDets[2]],
    [true, '0.75', 'all', maxDets[2]],
    [true, undefined, 'small', maxDets[2]],
    [true, undefined, 'medium', maxDets[2]],
    [true, undefined, 'large', maxDets[2]],
    [false, undefined, 'all', maxDets[0]],
    [false, undefined, 'all', maxDets[1]],
    [false, undefined, 'all', maxDets[2]],
    [false, undefined, 'small', maxDets[2]],
    [false, undefined, 'medium', maxDets[2]],
    [false, undefined, 'large', maxDets[2]],
  ];
  const range = iouThrs.length ? `${iouThrs[0]!.toFixed(2)}:${iouThrs[iouThrs.length - 1]!.toFixed(2)}` : '';
  return rows.map(([isAp, iou, area, maxDet], i) => {
    const title = (isAp ? 'Average Precision' : 'Average Recall').padEnd(18);
    const type = isAp ? '(AP)' : '(AR)';
    return ` ${title} ${type} @[ IoU=${(iou ?? range).padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDet).padStart(3)} ] = ${summary.stats[i]!.toFixed(3)}`;
  });
}
