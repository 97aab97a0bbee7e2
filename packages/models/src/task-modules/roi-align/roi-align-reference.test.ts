/**
 * A direct float64 transcription of mmcv's CPU RoIAlign kernels (avg mode), sample by sample
 * as mmcv loops, with none of the separable/sparse machinery of the code under test. The
 * forward and the backward (mmcv's roi_align_backward: each sample's 4 bilinear weights
 * scatter grad / count) are independent references for roi-align.test.ts.
 */
import { expect } from 'chai';

export interface Nhwc {
  shape: [number, number, number, number];
  data: Float64Array;
}

export interface ReferenceOptions {
  outH: number;
  outW: number;
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
}

interface Tap {
  y: number;
  x: number;
  weight: number;
}

/** mmcv's bilinear_interpolate weights of one sample point: up to 4 taps, none when outside. */
function bilinearTaps(yIn: number, xIn: number, height: number, width: number): Tap[] {
  if (yIn < -1 || yIn > height || xIn < -1 || xIn > width) return [];
  let [y, x] = [Math.max(yIn, 0), Math.max(xIn, 0)];
  let [yLow, xLow] = [Math.floor(y), Math.floor(x)];
  let yHigh: number;
  let xHigh: number;
  if (yLow >= height - 1) [yHigh, yLow, y] = [height - 1, height - 1, height - 1];
  else yHigh = yLow + 1;
  if (xLow >= width - 1) [xHigh, xLow, x] = [width - 1, width - 1, width - 1];
  else xHigh = xLow + 1;
  const [ly, lx] = [y - yLow, x - xLow];
  const [hy, hx] = [1 - ly, 1 - lx];
  return [
    { y: yLow, x: xLow, weight: hy * hx },
    { y: yLow, x: xHigh, weight: hy * lx },
    { y: yHigh, x: xLow, weight: ly * hx },
    { y: yHigh, x: xHigh, weight: ly * lx },
  ];
}

/** For each output cell of roi `roi`, the taps of all its samples and the divisor. */
function forEachCell(roi: readonly number[], height: number, width: number, o: ReferenceOptions, visit: (ph: number, pw: number, taps: Tap[], count: number) => void): void {
  const offset = o.aligned ? 0.5 : 0;
  const [startW, startH] = [roi[1]! * o.spatialScale - offset, roi[2]! * o.spatialScale - offset];
  let [roiW, roiH] = [roi[3]! * o.spatialScale - offset - startW, roi[4]! * o.spatialScale - offset - startH];
  if (!o.aligned) [roiW, roiH] = [Math.max(roiW, 1), Math.max(roiH, 1)];
  const [binH, binW] = [roiH / o.outH, roiW / o.outW];
  const gridH = o.samplingRatio > 0 ? o.samplingRatio : Math.ceil(roiH / o.outH);
  const gridW = o.samplingRatio > 0 ? o.samplingRatio : Math.ceil(roiW / o.outW);
  const count = Math.max(gridH * gridW, 1);
  for (let ph = 0; ph < o.outH; ph++) {
    for (let pw = 0; pw < o.outW; pw++) {
      const taps: Tap[] = [];
      for (let iy = 0; iy < gridH; iy++) {
        const y = startH + ph * binH + ((iy + 0.5) * binH) / gridH;
        for (let ix = 0; ix < gridW; ix++) taps.push(...bilinearTaps(y, startW + pw * binW + ((ix + 0.5) * binW) / gridW, height, width));
      }
      visit(ph, pw, taps, count);
    }
  }
}

/** mmcv roi_align_forward on NHWC data -> [K, outH, outW, C]. */
export function referenceRoiAlign(features: Nhwc, rois: readonly (readonly number[])[], o: ReferenceOptions): Nhwc {
  const [, height, width, channels] = features.shape;
  const out: Nhwc = { shape: [rois.length, o.outH, o.outW, channels], data: new Float64Array(rois.length * o.outH * o.outW * channels) };
  rois.forEach((roi, k) => {
    const image = roi[0]!;
    forEachCell(roi, height, width, o, (ph, pw, taps, count) => {
      const cell = ((k * o.outH + ph) * o.outW + pw) * channels;
      for (const { y, x, weight } of taps) {
        for (let c = 0; c < channels; c++) out.data[cell + c]! += (weight * features.data[((image * height + y) * width + x) * channels + c]!) / count;
      }
    });
  });
  return out;
}

/** mmcv roi_align_backward: d features for output gradient `dy` [K, outH, outW, C]. */
export function referenceRoiAlignBackward(dy: Float64Array, featureShape: Nhwc['shape'], rois: readonly (readonly number[])[], o: ReferenceOptions): Float64Array {
  const [batch, height, width, channels] = featureShape;
  const grad = new Float64Array(batch * height * width * channels);
  rois.forEach((roi, k) => {
    const image = roi[0]!;
    forEachCell(roi, height, width, o, (ph, pw, taps, count) => {
      const cell = ((k * o.outH + ph) * o.outW + pw) * channels;
      for (const { y, x, weight } of taps) {
        for (let c = 0; c < channels; c++) grad[((image * height + y) * width + x) * channels + c]! += (weight * dy[cell + c]!) / count;
      }
    });
  });
  return grad;
}

describe('RoIAlign reference transcription', () => {
  const constant: Nhwc = { shape: [1, 4, 5, 1], data: new Float64Array(20).fill(3) };

  it('averages a constant map to that constant inside the map', () => {
    const out = referenceRoiAlign(constant, [[0, 1, 1, 3, 3]], { outH: 2, outW: 2, spatialScale: 1, samplingRatio: 0, aligned: true });
    expect(Array.from(out.data)).to.deep.equal([3, 3, 3, 3]);
  });

  it('gives 0 for a roi entirely beyond the [-1, H] x [-1, W] band', () => {
    const out = referenceRoiAlign(constant, [[0, 20, 20, 24, 24]], { outH: 1, outW: 1, spatialScale: 1, samplingRatio: 2, aligned: true });
    expect(Array.from(out.data)).to.deep.equal([0]);
  });
});
