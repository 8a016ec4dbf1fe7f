import { jetstreamManager, type ConsumerInfo, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import { observedGauge, perScrape, type Sample } from './observed.ts';

export interface JetStreamMetricsOptions {
  /** Streams whose messages and replica lag are reported (a KV bucket's stream is `KV_<bucket>`). */
  streams: readonly string[];
  /** Durable consumers whose backlog is reported: [stream, consumer]. */
  consumers?: ReadonlyArray<readonly [stream: string, consumer: string]>;
}

/**
 * JetStream state read from the stream and consumer info at scrape time: messages per stream, each follower's
 * lag behind the leader (`halo_jetstream_replica_lag`, operations; replicated streams only), and per consumer the
 * backlog not yet delivered (`num_pending`), delivered and not yet acked (`num_ack_pending`) and redelivered.
 * Series of a stream that did not answer are absent from that scrape, and `halo_jetstream_info_up` says so.
 */
export function registerJetStreamMetrics(registry: Registry, nc: NatsConnection, options: JetStreamMetricsOptions): void {
  const consumers = options.consumers ?? [];
  const snapshot = perScrape(async () => {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const [streams, infos] = await Promise.all([
      Promise.all(options.streams.map((s) => jsm.streams.info(s).then((info): StreamInfo | null => info, () => null))),
      Promise.all(consumers.map(([s, c]) => jsm.consumers.info(s, c).then((info): ConsumerInfo | null => info, () => null))),
    ]);
    return { streams: options.streams.map((name, i) => ({ name, info: streams[i] ?? null })), consumers: consumers.map(([stream, consumer], i) => ({ stream, consumer, info: infos[i] ?? null })) };
  });
  const streamSamples = async (pick: (info: StreamInfo, stream: string) => Sample[]) => (await snapshot()).streams.flatMap((s) => (s.info ? pick(s.info, s.name) : []));
  const consumerSamples = async (pick: (info: ConsumerInfo) => number) =>
    (await snapshot()).consumers.flatMap((c): Sample[] => (c.info ? [[{ stream: c.stream, consumer: c.consumer }, pick(c.info)]] : []));

  observedGauge(registry, {
    name: 'halo_jetstream_info_up', help: 'Whether the stream or consumer info answered at this scrape (1) or not (0)', labelNames: ['stream', 'consumer'],
    read: async () => {
      const s = await snapshot();
      return [
        ...s.streams.map((x): Sample => [{ stream: x.name, consumer: '' }, x.info ? 1 : 0]),
        ...s.consumers.map((x): Sample => [{ stream: x.stream, consumer: x.consumer }, x.info ? 1 : 0]),
      ];
    },
  });
  observedGauge(registry, {
    name: 'halo_jetstream_stream_messages', help: 'Messages stored in a stream', labelNames: ['stream'],
    read: () => streamSamples((info, stream) => [[{ stream }, info.state.messages]]),
  });
  observedGauge(registry, {
    name: 'halo_jetstream_replica_lag', help: 'Operations a stream follower is behind its leader', labelNames: ['stream', 'replica'],
    read: () => streamSamples((info, stream) => (info.cluster?.replicas ?? []).map((r): Sample => [{ stream, replica: r.name }, r.lag ?? 0])),
  });
  observedGauge(registry, {
    name: 'halo_jetstream_replica_current', help: 'Whether a stream follower is current with its leader (1) or not (0)', labelNames: ['stream', 'replica'],
    read: () => streamSamples((info, stream) => (info.cluster?.replicas ?? []).map((r): Sample => [{ stream, replica: r.name }, r.current ? 1 : 0])),
  });
  observedGauge(registry, {
    name: 'halo_jetstream_consumer_pending', help: 'Messages of a consumer not yet delivered (the backlog)', labelNames: ['stream', 'consumer'],
    read: () => consumerSamples((info) => info.num_pending),
  });
  observedGauge(registry, {
    name: 'halo_jetstream_consumer_ack_pending', help: 'Messages of a consumer delivered and not yet acknowledged (being worked on)', labelNames: ['stream', 'consumer'],
    read: () => consumerSamples((info) => info.num_ack_pending),
  });
  observedGauge(registry, {
    name: 'halo_jetstream_consumer_redelivered', help: 'Messages of a consumer delivered more than once and not yet acknowledged', labelNames: ['stream', 'consumer'],
    read: () => consumerSamples((info) => info.num_redelivered),
  });
}
