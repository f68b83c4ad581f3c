// The IMAGENAME part of a service key: the last path segment of the image a container was
// created from, without registry, tag or digest. Pure; the Docker lookups are the caller's.

const IMAGE_ID = /^sha256:([0-9a-f]{64})$/;
const HEX = /^[0-9a-f]+$/;
/** `docker images` shows images without a tag as this; it names nothing. */
const UNTAGGED = '<none>:<none>';

/**
 * The image name for a service key.
 *
 * Call it with what one container inspect and one image inspect give:
 *
 *     imageNameOf(container.Config.Image, image.RepoTags, container.Image)
 *
 * - `imageRef`: the reference the container was created from (`Config.Image`), e.g.
 *   `nginx:1.25`, `registry.example.org/team/app@sha256:…`, or an image id.
 * - `repoTags`: the image's `RepoTags`; only read when `imageRef` is an image id, so a caller
 *   may skip the image inspect when `imageRef` is plainly a name (see `isImageIdRef`).
 * - `imageId`: the container's `Image` (`sha256:<64 hex>`); tells a hex id prefix such as
 *   `docker run 4ab1c2` apart from an image that happens to be named with hex letters.
 *
 * An id reference gives the first repo tag's name, else the id's first 12 hex digits (what
 * `docker ps` shows), so the key stays stable and readable either way.
 */
export function imageNameOf(imageRef: string, repoTags?: readonly string[], imageId?: string): string {
  if (!isImageIdRef(imageRef, imageId, repoTags)) return lastSegmentOf(imageRef);
  const tag = repoTags?.find((t) => t !== '' && t !== UNTAGGED);
  if (tag !== undefined) return lastSegmentOf(tag);
  return hexOf(imageId ?? imageRef).slice(0, 12);
}

/**
 * Whether `imageRef` names the image by id rather than by repository: a full `sha256:` id,
 * or bare hex that is a prefix of `imageId` and that none of `repoTags` is named after
 * (Docker resolves a reference as a name before it tries it as an id prefix).
 */
export function isImageIdRef(imageRef: string, imageId?: string, repoTags?: readonly string[]): boolean {
  if (imageRef === '' || IMAGE_ID.test(imageRef)) return true;
  if (!HEX.test(imageRef) || imageId === undefined) return false;
  if (!hexOf(imageId).startsWith(imageRef)) return false;
  return !repoTags?.some((tag) => repositoryOf(tag) === imageRef);
}

/** `registry:5000/a/b:1.2@sha256:…` → `b` */
function lastSegmentOf(reference: string): string {
  const withoutDigest = reference.split('@', 1)[0] ?? '';
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  // A tag can only follow the last slash: a colon before it belongs to a registry's port.
  const colon = lastSegment.indexOf(':');
  return colon === -1 ? lastSegment : lastSegment.slice(0, colon);
}

/** `registry:5000/a/b:1.2` → `registry:5000/a/b` */
function repositoryOf(reference: string): string {
  const withoutDigest = reference.split('@', 1)[0] ?? '';
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}

const hexOf = (id: string): string => (id.startsWith('sha256:') ? id.slice('sha256:'.length) : id);
