import { describe, expect, it } from 'vitest';
import { imageNameOf, isImageIdRef } from './image-name.js';

const HEX64 = '4ab0bc911335bb0d4ab0bc911335bb0d4ab0bc911335bb0d4ab0bc911335bb0d';
const ID = `sha256:${HEX64}`;

describe('imageNameOf', () => {
  it.each([
    ['nginx', 'nginx'],
    ['nginx:1.25', 'nginx'],
    ['nginx:latest', 'nginx'],
    ['tutum/rabbitmq', 'rabbitmq'],
    ['library/nginx:1.25-alpine', 'nginx'],
    ['registry.at.netstream.ru/pusher/scheduler', 'scheduler'],
    ['registry.at.netstream.ru/pusher/scheduler:2.0', 'scheduler'],
    [`localhost:5000/a/b:1.2@sha256:${HEX64}`, 'b'],
    [`localhost:5000/a/b@sha256:${HEX64}`, 'b'],
    ['localhost:5000/b', 'b'],
    ['localhost:5000/b:3', 'b'],
    [`nginx@sha256:${HEX64}`, 'nginx'],
  ])('names %s as %s', (ref, name) => {
    expect(imageNameOf(ref)).toBe(name);
    // The repo tags of the image must not matter when the reference is a name.
    expect(imageNameOf(ref, ['other/thing:1'], ID)).toBe(name);
  });

  it.each([
    ['a full image id, tagged', ID, ['tutum/rabbitmq:3.8', 'rabbitmq:latest'], ID, 'rabbitmq'],
    ['a full image id, tag with registry port', ID, ['localhost:5000/a/b:1.2'], ID, 'b'],
    ['a full image id, untagged', ID, [], ID, HEX64.slice(0, 12)],
    ['a full image id, <none>:<none>', ID, ['<none>:<none>'], ID, HEX64.slice(0, 12)],
    ['a full image id, no image facts', ID, undefined, undefined, HEX64.slice(0, 12)],
    ['an id prefix, tagged', '4ab0bc9113', ['busybox:1.36'], ID, 'busybox'],
    ['an id prefix, untagged', '4ab0bc', [], ID, HEX64.slice(0, 12)],
    ['64 bare hex digits', HEX64, ['app:1'], ID, 'app'],
    ['an empty reference', '', ['app:1'], ID, 'app'],
  ])('uses the repo tag or the id for %s', (_what, ref, tags, id, name) => {
    expect(imageNameOf(ref, tags, id)).toBe(name);
  });
});

describe('isImageIdRef', () => {
  it.each([
    ['nginx', ID, [], false],
    [ID, undefined, undefined, true],
    ['4ab0bc', ID, [], true],
    // hex that is not a prefix of this image's id is a name
    ['beef', ID, [], false],
    // hex with no image id to compare against is taken as a name
    ['4ab0bc', undefined, [], false],
    // an image named with hex letters: Docker resolves the name first
    ['abc', 'sha256:abc0000000000000000000000000000000000000000000000000000000000000', ['abc:latest'], false],
    ['sha256:short', undefined, undefined, false],
  ])('%s (image %s, tags %j) → %s', (ref, id, tags, expected) => {
    expect(isImageIdRef(ref, id, tags)).toBe(expected);
  });
});
