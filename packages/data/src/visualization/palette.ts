/** Distinct, stable colours per class index: hues spread by the golden angle, so neighbours differ. */
export type Rgb = readonly [number, number, number];

const GOLDEN_RATIO_CONJUGATE = 0.618033988749895;

export function classColor(label: number, palette?: readonly Rgb[]): Rgb {
  if (palette?.length) return palette[label % palette.length]!;
  const hue = (label * GOLDEN_RATIO_CONJUGATE) % 1;
  return hsvToRgb(hue, 0.8, 0.95);
}

/** HSV (each in 0..1) to RGB bytes. */
export function hsvToRgb(h: number, s: number, v: number): Rgb {
  const sector = Math.floor(h * 6);
  const f = h * 6 - sector;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const table: [number, number, number][] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  const [r, g, b] = table[sector % 6]!;
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** Black or white, whichever reads better on `background` (WCAG relative luminance). */
export function contrastingTextColor([r, g, b]: Rgb): Rgb {
  const linear = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  return luminance > 0.179 ? [0, 0, 0] : [255, 255, 255];
}

export function cssColor([r, g, b]: Rgb): string {
  return `rgb(${r},${g},${b})`;
}
