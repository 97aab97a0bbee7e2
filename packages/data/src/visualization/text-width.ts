/**
 * Approximate rendered width of a label in DejaVu Sans, from the font's advance widths (in em).
 * The SVG is rasterised by librsvg inside sharp, which cannot be asked for text metrics first;
 * these widths keep the filled label box snug around the text (within a pixel or two).
 */
const ADVANCE_EM: Record<string, number> = {
  ' ': 0.318, '.': 0.318, ',': 0.318, ':': 0.337, ';': 0.337, '-': 0.361, '_': 0.5, '(': 0.39, ')': 0.39, '/': 0.337, '%': 0.95, "'": 0.275,
  a: 0.613, b: 0.635, c: 0.55, d: 0.635, e: 0.615, f: 0.352, g: 0.635, h: 0.634, i: 0.278, j: 0.278, k: 0.579, l: 0.278, m: 0.974,
  n: 0.634, o: 0.612, p: 0.635, q: 0.635, r: 0.411, s: 0.521, t: 0.392, u: 0.634, v: 0.592, w: 0.818, x: 0.592, y: 0.592, z: 0.525,
  I: 0.295, J: 0.295, M: 0.863, W: 0.989,
};
const DIGIT_EM = 0.636;
/** Upper case and anything else not listed. */
const DEFAULT_EM = 0.72;

export function estimateTextWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const char of text) em += ADVANCE_EM[char] ?? (char >= '0' && char <= '9' ? DIGIT_EM : DEFAULT_EM);
  return em * fontSize;
}
