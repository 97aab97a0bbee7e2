/**
 * mmdet's CocoDataset (on mmengine's BaseDataset): reads a COCO annotation file into a data list,
 * maps category ids to contiguous labels, filters images as mmdet's filter_data does, and runs
 * the pipeline per sample, replacing an image that cannot be loaded by another (max_refetch).
 * See docs/data.md for the keys and for what is reported when data is bad.
 */
import fs from 'node:fs';
import path from 'node:path';
import { componentList, defineComponent, type ComponentConfig, type ConfigSchema } from '@tsdet/core';
import { ImageLoadError } from '../image/load-image.js';
import { displayPath } from '../inference/errors.js';
import { Compose } from '../transforms/compose.js';
import { isPackedDetInputs } from '../transforms/pack-det-inputs.js';
import type { PackedDetInputs, Transform } from '../transforms/types.js';
import { DatasetError, parseCocoFile, type CocoCategoryInfo, type DetDataInfo } from './coco-annotations.js';
import { DataIssueLog, type SkipCounts } from './data-issues.js';
import type { DatasetMetaInfo, DetDataset } from './det-dataset.js';

type Rgb = readonly [number, number, number];

export interface CocoDatasetConfig {
  /** Folder that a relative ann_file and relative data_prefix entries are joined to. */
  readonly data_root: string;
  readonly ann_file: string;
  /** `classes` selects categories by name, in label order. */
  readonly metainfo: { readonly classes?: readonly string[]; readonly palette?: readonly Rgb[] } | null;
  /** `img`: the folder image file_names are relative to (mmengine also reads `img_path`). */
  readonly data_prefix: { readonly img?: string; readonly img_path?: string; readonly seg?: string };
  readonly filter_cfg: { readonly filter_empty_gt?: boolean; readonly min_size?: number } | null;
  /** Keep the first n samples, or these sample indices, after filtering. */
  readonly indices: number | readonly number[] | null;
  readonly pipeline: readonly ComponentConfig[];
  readonly test_mode: boolean;
  /** Read the annotation file on first use instead of at build time. */
  readonly lazy_init: boolean;
  /** How many other images to try when one cannot be loaded (training only). */
  readonly max_refetch: number;
  /** Accepted for mmdet configs: the data list is a plain array here (no pickled copy for workers). */
  readonly serialize_data: boolean;
  readonly seg_map_suffix: string;
  readonly proposal_file: null;
  readonly return_classes: boolean;
  readonly file_client_args?: null;
  readonly backend_args: null;
}

interface LoadedData {
  readonly dataList: readonly DetDataInfo[];
  readonly metainfo: DatasetMetaInfo;
  readonly fileCategories: readonly CocoCategoryInfo[];
  readonly catIds: readonly number[];
}

export class CocoDataset implements DetDataset {
  readonly annFile: string;
  readonly imgPrefix: string;
  readonly issues: DataIssueLog;
  readonly #pipeline: Transform;
  #data: LoadedData | undefined;

  constructor(
    readonly cfg: CocoDatasetConfig,
    transforms: readonly Transform[] = [],
  ) {
    this.annFile = joinRoot(cfg.data_root, cfg.ann_file);
    this.imgPrefix = joinRoot(cfg.data_root, cfg.data_prefix.img ?? cfg.data_prefix.img_path ?? '');
    this.issues = new DataIssueLog(`CocoDataset ${displayPath(this.annFile)}`);
    this.#pipeline = new Compose(transforms);
    if (cfg.proposal_file) throw new DatasetError('proposal_file is not supported (precomputed proposals are not ported)');
    if (!cfg.lazy_init) this.fullInit();
  }

  /** mmengine's full_init: load, filter, apply `indices`, and check that the image files exist. */
  fullInit(): void {
    if (this.#data) return;
    const parsed = parseCocoFile(readJson(this.annFile), { annFile: displayPath(this.annFile), imgPrefix: this.imgPrefix, classes: this.cfg.metainfo?.classes, issues: this.issues });
    const filtered = this.#filter(parsed.dataList, parsed.catToImgs);
    const selected = this.#selectIndices(filtered).filter((info) => this.#imageFileExists(info));
    this.issues.warnSummary();
    const palette = this.cfg.metainfo?.palette;
    this.#data = { dataList: selected, metainfo: { classes: parsed.classes, ...(palette ? { palette } : {}) }, fileCategories: parsed.fileCategories, catIds: parsed.catIds };
  }

  get length(): number {
    return this.#loaded().dataList.length;
  }

  get metainfo(): DatasetMetaInfo {
    return this.#loaded().metainfo;
  }

  /** mmdet's cat_ids: the category id of each label. */
  get catIds(): readonly number[] {
    return this.#loaded().catIds;
  }

  get testMode(): boolean {
    return this.cfg.test_mode;
  }

  get skipped(): SkipCounts {
    return this.issues.counts();
  }

  getDataInfo(index: number): DetDataInfo {
    const list = this.#loaded().dataList;
    if (!Number.isInteger(index) || index < 0 || index >= list.length) throw new RangeError(`CocoDataset: index ${index} is outside 0..${list.length - 1}`);
    const info = list[index]!;
    return { ...info, instances: info.instances.map((instance) => ({ ...instance })) };
  }

  async getItem(index: number, random: () => number): Promise<PackedDetInputs> {
    let current = index;
    for (let attempt = 0; attempt <= this.cfg.max_refetch; attempt++) {
      const packed = await this.#prepare(current, random);
      if (packed) return packed;
      current = Math.floor(random() * this.length);
    }
    throw new DatasetError(`${displayPath(this.annFile)}: no loadable image found after ${this.cfg.max_refetch} refetches, starting at sample ${index} (see the messages above)`);
  }

  /** The sample through the pipeline, or null when its image could not be loaded (reported). */
  async #prepare(index: number, random: () => number): Promise<PackedDetInputs | null> {
    const info = this.getDataInfo(index);
    let output: unknown;
    try {
      output = await this.#pipeline.transform({ ...info, sample_idx: index }, { random });
    } catch (error) {
      if (!(error instanceof ImageLoadError)) throw error;
      this.#reportLoadFailure(info, error);
      return null;
    }
    if (output === null) {
      if (this.testMode) throw new DatasetError(`${describeImage(info)}: the pipeline dropped it; test_mode needs every image`);
      this.issues.report('dropped_by_pipeline', `${describeImage(info)}: the pipeline dropped it; another image is loaded instead`);
      return null;
    }
    if (!isPackedDetInputs(output)) throw new DatasetError(`${displayPath(this.annFile)}: the pipeline must end with PackDetInputs (got keys ${Object.keys(output as object).join(', ')})`);
    return output;
  }

  #reportLoadFailure(info: DetDataInfo, error: ImageLoadError): void {
    const reason = error.failure === 'missing' ? 'missing_image' : 'unreadable_image';
    // mmengine raises at test time: replacing an image would change what is evaluated.
    if (this.testMode) throw new DatasetError(`${describeImage(info)}: ${error.message}; test_mode needs every image`);
    this.issues.report(reason, `${describeImage(info)}: ${error.message}; another image is loaded instead`);
  }

  /** mmdet's filter_data: only outside test_mode, and only with a filter_cfg. */
  #filter(dataList: readonly DetDataInfo[], catToImgs: ReadonlyMap<number, ReadonlySet<number>>): readonly DetDataInfo[] {
    const filterCfg = this.cfg.filter_cfg;
    if (this.cfg.test_mode || !filterCfg) return dataList;
    const filterEmpty = filterCfg.filter_empty_gt ?? false;
    const minSize = filterCfg.min_size ?? 0;
    // As mmdet: an image counts as annotated when the file has any annotation of a selected
    // category for it, even one skipped as bad or marked iscrowd.
    const annotated = new Set([...catToImgs.values()].flatMap((ids) => [...ids]));
    return dataList.filter((info) => (!filterEmpty || annotated.has(info.img_id)) && Math.min(info.width, info.height) >= minSize);
  }

  #selectIndices(dataList: readonly DetDataInfo[]): readonly DetDataInfo[] {
    const indices = this.cfg.indices;
    if (indices === null) return dataList;
    if (typeof indices === 'number') return dataList.slice(0, indices);
    const outside = indices.filter((i) => i >= dataList.length);
    if (outside.length) throw new DatasetError(`indices ${outside.join(', ')} are outside the ${dataList.length} samples of ${displayPath(this.annFile)} (after filtering)`);
    return indices.map((i) => dataList[i]!);
  }

  /** Checked once at load, so that a missing file is reported up front rather than refetched every epoch. */
  #imageFileExists(info: DetDataInfo): boolean {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(info.img_path);
    } catch {
      stat = undefined;
    }
    if (stat?.isFile()) return true;
    const problem = stat ? 'is not a file' : 'not found';
    this.issues.report(stat ? 'unreadable_image' : 'missing_image', `${describeImage(info)}: ${problem}; skipped${this.cfg.test_mode ? ' (it still counts in evaluation against the annotation file)' : ''}`);
    return false;
  }

  #loaded(): LoadedData {
    this.fullInit();
    return this.#data!;
  }
}

function describeImage(info: DetDataInfo): string {
  const count = info.instances.length;
  return `image ${info.img_id} '${displayPath(info.img_path)}' (${count} annotation${count === 1 ? '' : 's'})`;
}

/** mmengine's _join_prefix: relative paths are joined to data_root. */
function joinRoot(root: string, file: string): string {
  return path.isAbsolute(file) ? file : path.join(root, file);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatasetError(`cannot read the annotation file ${displayPath(file)}${code === 'ENOENT' ? ': no such file' : ` (${code ?? String(error)})`}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DatasetError(`${displayPath(file)}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

const localFilesOnly: ConfigSchema = { type: 'null', description: 'local files only (backend_args=None)' };
const rgb: ConfigSchema = { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 }, minItems: 3, maxItems: 3 };

export const cocoDatasetDescriptor = defineComponent<CocoDatasetConfig, CocoDataset>({
  type: 'CocoDataset',
  description: 'a COCO-format detection dataset (annotation json + image folder)',
  schema: {
    properties: {
      data_root: { type: 'string', default: '', description: 'folder a relative ann_file and data_prefix are joined to' },
      ann_file: { type: 'string', minLength: 1, description: 'COCO annotation json' },
      metainfo: {
        type: ['object', 'null'],
        properties: {
          classes: { type: 'array', items: { type: 'string' }, minItems: 1, description: "category names to train on, in label order; default: every category of ann_file sorted by id" },
          palette: { type: 'array', items: rgb, description: 'an RGB colour per class' },
        },
        additionalProperties: false,
        default: null,
      },
      data_prefix: {
        type: 'object',
        properties: { img: { type: 'string' }, img_path: { type: 'string' }, seg: { type: 'string', description: 'ignored: segmentation is not ported' } },
        additionalProperties: false,
        default: { img: '' },
      },
      filter_cfg: {
        type: ['object', 'null'],
        properties: { filter_empty_gt: { type: 'boolean' }, min_size: { type: 'number', minimum: 0 } },
        additionalProperties: false,
        default: null,
        description: 'training only: drop images without annotations of the classes, and images whose shorter side is below min_size',
      },
      indices: {
        anyOf: [{ type: 'integer', minimum: 0 }, { type: 'array', items: { type: 'integer', minimum: 0 } }, { type: 'null' }],
        default: null,
        description: 'keep the first n samples, or these sample indices',
      },
      pipeline: { ...componentList('TRANSFORMS', 'data transforms, in order'), default: [] },
      test_mode: { type: 'boolean', default: false },
      lazy_init: { type: 'boolean', default: false },
      max_refetch: { type: 'integer', minimum: 0, default: 1000 },
      serialize_data: { type: 'boolean', default: true, description: 'accepted; no effect (no worker processes)' },
      seg_map_suffix: { type: 'string', default: '.png', description: 'ignored: segmentation is not ported' },
      proposal_file: { type: 'null', default: null, description: 'precomputed proposals are not ported' },
      return_classes: { type: 'boolean', default: false, description: 'accepted; no effect' },
      file_client_args: localFilesOnly,
      backend_args: { ...localFilesOnly, default: null },
    },
    required: ['ann_file'],
  },
  build: (cfg, ctx) =>
    new CocoDataset(
      cfg,
      cfg.pipeline.map((step, i) => ctx.build<Transform>('TRANSFORMS', step, `pipeline.${i}`)),
    ),
});
