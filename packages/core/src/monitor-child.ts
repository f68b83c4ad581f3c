// What a monitor child of the listener loads: no etcd3, no gRPC, no CLI layer.
export { runMonitorChild } from './monitor/monitor-child.js';
