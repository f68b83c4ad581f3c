// Messages the listener sends its monitor children over the IPC channel of child_process.fork:
// the host has one Docker event stream (the listener's), not one per container.
import type { ContainerEvent } from '../docker/container-event.js';

export interface DockerEventMessage {
  type: 'docker-event';
  event: ContainerEvent;
}

export const dockerEventMessage = (event: ContainerEvent): DockerEventMessage => ({
  type: 'docker-event',
  event,
});

export function isDockerEventMessage(message: unknown): message is DockerEventMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'docker-event' &&
    typeof (message as { event?: { id?: unknown } }).event?.id === 'string'
  );
}
