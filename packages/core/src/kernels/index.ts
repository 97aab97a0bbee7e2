export { setWinogradBandBytes, setWinogradMode, WINOGRAD_KERNEL, winogradApplies, winogradConv2d, winogradFilter, winogradMode, withWinogradMode } from './winograd.js';
export type { ConvGeometry, WinogradConvArgs, WinogradMode } from './winograd.js';
export { WEIGHTED_SCATTER_KERNEL, weightedScatterAdd, weightedScatterAddApplies } from './weighted-scatter.js';
export type { ScatterEntries } from './weighted-scatter.js';
export { SLICE_COLUMNS_KERNEL, sliceColumns } from './slice-columns.js';
