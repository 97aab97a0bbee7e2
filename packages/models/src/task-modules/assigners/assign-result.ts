/**
 * mmdet's AssignResult: per prior, the assigned gt (1-based; 0 negative, -1 ignored), the max
 * overlap with any gt and the assigned gt's label (-1 when not positive).
 */
export class AssignResult {
  constructor(
    /** Number of gts the priors were assigned against. */
    public numGts: number,
    /** Per prior: -1 ignore, 0 negative, i + 1 positive for gt i. */
    public gtInds: Int32Array,
    /** Per prior: IoU with the best gt (0 when there are no gts, -1 for ignored priors). */
    public maxOverlaps: Float32Array,
    /** Per prior: label of the assigned gt, -1 when not positive. */
    public labels: Int32Array,
  ) {}

  get numPriors(): number {
    return this.gtInds.length;
  }

  /**
   * add_gt_(gt_labels): prepends the gts themselves as priors (gt_inds 1..G, max_overlaps 1, their
   * labels), as the samplers do with add_gt_as_proposals. Replaces the arrays in place.
   */
  addGt(gtLabels: ArrayLike<number>): void {
    const g = gtLabels.length;
    const gtInds = new Int32Array(g + this.gtInds.length);
    const maxOverlaps = new Float32Array(g + this.maxOverlaps.length);
    const labels = new Int32Array(g + this.labels.length);
    for (let i = 0; i < g; i++) {
      gtInds[i] = i + 1;
      maxOverlaps[i] = 1;
      labels[i] = gtLabels[i]!;
    }
    gtInds.set(this.gtInds, g);
    maxOverlaps.set(this.maxOverlaps, g);
    labels.set(this.labels, g);
    this.gtInds = gtInds;
    this.maxOverlaps = maxOverlaps;
    this.labels = labels;
  }
}
