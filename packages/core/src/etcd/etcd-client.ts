// Opens the etcd3 client the tools share across all their records.
import { Etcd3 } from 'etcd3';
import { type EtcdConnectionInput, etcdOptionsFrom } from './connection.js';

export function openEtcd(input: EtcdConnectionInput): Etcd3 {
  return new Etcd3(etcdOptionsFrom(input));
}
