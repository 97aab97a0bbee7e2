/** Small COCO fixtures for the evaluation tests. */
import type { CocoAnnotations, CocoGtAnnotation, CocoResult } from '@tsdet/data';

export type Box = [number, number, number, number];

export function gtFile(anns: { image: number; cat: number; box: Box; area?: number; crowd?: boolean }[], images = [1], cats = [1]): CocoAnnotations {
  const annotations: CocoGtAnnotation[] = anns.map((a, i) => ({
    id: i + 1,
    image_id: a.image,
    category_id: a.cat,
    bbox: a.box,
    area: a.area ?? a.box[2] * a.box[3],
    iscrowd: a.crowd ? 1 : 0,
  }));
  return { images: images.map((id) => ({ id, width: 4000, height: 4000 })), categories: cats.map((id) => ({ id, name: `c${id}` })), annotations };
}

export function det(image: number, cat: number, box: Box, score: number): CocoResult {
  return { image_id: image, category_id: cat, bbox: box, score };
}
