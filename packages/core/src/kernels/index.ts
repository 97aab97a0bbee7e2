export { setWinogradBandBytes, setWinogradMode, WINOGRAD_KERNEL, winogradApplies, winogradConv2d, winogradFilter, winogradMode, withWinogradMode } from './winograd.js';
export type { ConvGeometry, WinogradConvArgs, WinogradMode } from './winograd.js';
