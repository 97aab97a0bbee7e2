/** What a data loader needs of a detection dataset (mmengine's BaseDataset, the parts it uses). */
import type { PackedDetInputs } from '../transforms/types.js';
import type { DetDataInfo } from './coco-annotations.js';
import type { SkipCounts } from './data-issues.js';

/** mmengine's `dataset.metainfo`, which the evaluator hands to its metrics as `dataset_meta`. */
export interface DatasetMetaInfo {
  /** Class names; label i is classes[i]. */
  readonly classes: readonly string[];
  /** One RGB colour per class, when the config gives them. */
  readonly palette?: readonly (readonly [number, number, number])[];
}

export interface DetDataset {
  /** Number of samples (after filtering and `indices`). */
  readonly length: number;
  readonly metainfo: DatasetMetaInfo;
  /** Test mode: nothing is filtered, and an image that cannot be loaded is an error (not replaced). */
  readonly testMode: boolean;
  /** Annotations and images left out so far, per reason (load time, then refetches). */
  readonly skipped: SkipCounts;
  /** The sample's annotation record (a copy the caller may keep). */
  getDataInfo(index: number): DetDataInfo;
  /**
   * The sample run through the pipeline, with `random` as its transforms' random stream. An image
   * that cannot be loaded is replaced by another index drawn from `random`, as mmengine refetches.
   */
  getItem(index: number, random: () => number): Promise<PackedDetInputs>;
}
