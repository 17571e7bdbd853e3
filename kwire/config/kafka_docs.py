"""Kafka 4.4.0's documentation of each config kwire knows, as a 4.4.0 broker
returns it in DescribeConfigs (include_documentation): broker, topic and group
configs. Data only."""

from collections.abc import Mapping

BROKER_DOCS: Mapping[str, str] = {
    'advertised.listeners': (
        'Specifies the listener addresses that the Kafka brokers will advertise to '
        'clients and other brokers. The config is useful where the actual listener '
        'configuration <code>listeners</code> does not represent the addresses that '
        'clients should use to connect, such as in cloud environments. The addresses are '
        'published to and managed by the controller, the brokers pull these data from '
        'the controller as needed. In IaaS environments, this may need to be different '
        'from the interface to which the broker binds. If this is not set, the value for '
        '<code>listeners</code> will be used. Unlike <code>listeners</code>, it is not '
        'valid to advertise the 0.0.0.0 meta-address.\n Also unlike '
        '<code>listeners</code>, there can be duplicated ports in this property, so that '
        "one listener can be configured to advertise another listener's address. This "
        'can be useful in some cases where external load balancers are used.'
    ),
    'auto.create.topics.enable': (
        'Enable auto creation of topic on the server.'
    ),
    'background.threads': (
        'The number of threads to use for various background processing tasks'
    ),
    'broker.id': (
        'The broker id for this server. This configuration is deprecated and will be '
        'removed in Apache Kafka 5.0. Please use <code>node.id</code> instead.'
    ),
    'compression.gzip.level': (
        "The compression level to use if compression.type is set to 'gzip'."
    ),
    'compression.lz4.level': (
        "The compression level to use if compression.type is set to 'lz4'."
    ),
    'compression.type': (
        'Specify the final compression type for a given topic. This configuration '
        "accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It "
        "additionally accepts 'uncompressed' which is equivalent to no compression; and "
        "'producer' which means retain the original compression codec set by the "
        'producer.'
    ),
    'compression.zstd.level': (
        "The compression level to use if compression.type is set to 'zstd'."
    ),
    'connections.max.idle.ms': (
        'Idle connections timeout: the server socket processor threads close the '
        'connections that idle more than this'
    ),
    'default.replication.factor': (
        'The default replication factor per topic. This configuration affects the '
        'following paths:<ul>  <li>1. Auto topic creation</li>  <li>2. Internal streams '
        'topic creation</li>  <li>3. Topic creation via '
        '<code>AdminClient#createTopics</code> when the replication factor is set to '
        '-1</li></ul><p>For (1), the value from the broker configuration is used only '
        'when it is explicitly set. If it is not explicitly configured on the broker, '
        'the value from the controller configuration is used.<br/>For (2) and (3), the '
        'value from the controller configuration is always used.</p>'
    ),
    'delete.topic.enable': (
        'When set to true, topics can be deleted by the admin client. When set to false, '
        'deletion requests will be explicitly rejected by the broker.'
    ),
    'fetch.max.bytes': (
        'The maximum number of bytes we will return for a fetch request. Must be at '
        'least 1024.'
    ),
    'group.consumer.assignment.interval.ms': (
        'The interval between assignment updates for a consumer group.'
    ),
    'group.consumer.heartbeat.interval.ms': (
        'The heartbeat interval given to the members of a consumer group.'
    ),
    'group.consumer.max.assignment.interval.ms': (
        'The maximum interval between assignment updates for a consumer group.'
    ),
    'group.consumer.max.heartbeat.interval.ms': (
        'The maximum heartbeat interval for registered consumers.'
    ),
    'group.consumer.max.session.timeout.ms': (
        'The maximum allowed session timeout for registered consumers.'
    ),
    'group.consumer.min.assignment.interval.ms': (
        'The minimum interval between assignment updates for a consumer group.'
    ),
    'group.consumer.min.heartbeat.interval.ms': (
        'The minimum heartbeat interval for registered consumers.'
    ),
    'group.consumer.min.session.timeout.ms': (
        'The minimum allowed session timeout for registered consumers.'
    ),
    'group.consumer.session.timeout.ms': (
        'The timeout to detect client failures when using the consumer group protocol.'
    ),
    'group.initial.rebalance.delay.ms': (
        'The amount of time the group coordinator will wait for more consumers to join a '
        'new group before performing the first rebalance. A longer delay means '
        'potentially fewer rebalances, but increases the time until processing begins.'
    ),
    'group.max.session.timeout.ms': (
        'The maximum allowed session timeout for registered consumers. Longer timeouts '
        'give consumers more time to process messages in between heartbeats at the cost '
        'of a longer time to detect failures.'
    ),
    'group.min.session.timeout.ms': (
        'The minimum allowed session timeout for registered consumers. Shorter timeouts '
        'result in quicker failure detection at the cost of more frequent consumer '
        'heartbeating, which can overwhelm broker resources.'
    ),
    'group.share.assignment.interval.ms': (
        'The interval between assignment updates for a share group.'
    ),
    'group.share.delivery.count.limit': (
        'The maximum number of delivery attempts for a record delivered to a share group.'
    ),
    'group.share.heartbeat.interval.ms': (
        'The heartbeat interval given to the members of a share group.'
    ),
    'group.share.max.assignment.interval.ms': (
        'The maximum interval between assignment updates for a share group.'
    ),
    'group.share.max.delivery.count.limit': (
        'The maximum value of a group configuration for the maximum number of delivery '
        'attempts for a record delivered to a share group.'
    ),
    'group.share.max.heartbeat.interval.ms': (
        'The maximum heartbeat interval for share group members.'
    ),
    'group.share.max.partition.max.record.locks': (
        'The maximum value of a group configuration for the record lock limit per '
        'share-partition.'
    ),
    'group.share.max.record.lock.duration.ms': (
        'The maximum value of a group configuration for record acquisition lock duration '
        'in milliseconds.'
    ),
    'group.share.max.session.timeout.ms': (
        'The maximum allowed session timeout for share group members.'
    ),
    'group.share.min.assignment.interval.ms': (
        'The minimum interval between assignment updates for a share group.'
    ),
    'group.share.min.delivery.count.limit': (
        'The minimum value of a group configuration for the maximum number of delivery '
        'attempts for a record delivered to a share group.'
    ),
    'group.share.min.heartbeat.interval.ms': (
        'The minimum heartbeat interval for share group members.'
    ),
    'group.share.min.partition.max.record.locks': (
        'The minimum value of a group configuration for the record lock limit per '
        'share-partition.'
    ),
    'group.share.min.record.lock.duration.ms': (
        'The minimum value of a group configuration for record acquisition lock duration '
        'in milliseconds.'
    ),
    'group.share.min.session.timeout.ms': (
        'The minimum allowed session timeout for share group members.'
    ),
    'group.share.partition.max.record.locks': (
        'Share-group record lock limit per share-partition.'
    ),
    'group.share.record.lock.duration.ms': (
        'The record acquisition lock duration in milliseconds for share groups.'
    ),
    'group.share.session.timeout.ms': (
        'The timeout to detect client failures when using the share group protocol.'
    ),
    'group.streams.assignment.interval.ms': (
        'The interval between assignment updates for a streams group.'
    ),
    'group.streams.assignors': (
        'The server side task assignors for streams groups as a list of either names for '
        'built-in assignors or fully qualified class names for custom assignors. The '
        'first one in the list is considered as the default assignor to be used in the '
        'case where the streams group does not specify an assignor. Changing the default '
        'assignor does not trigger a rebalance for existing groups; the new default '
        'takes effect on the next rebalance. The supported built-in assignors are: '
        'sticky.'
    ),
    'group.streams.heartbeat.interval.ms': (
        'The heartbeat interval given to the members.'
    ),
    'group.streams.initial.rebalance.delay.ms': (
        'The amount of time the group coordinator will wait for more streams clients to '
        'join a new group before performing the first rebalance. A longer delay means '
        'potentially fewer rebalances.'
    ),
    'group.streams.max.assignment.interval.ms': (
        'The maximum interval between assignment updates for a streams group.'
    ),
    'group.streams.max.heartbeat.interval.ms': (
        'The maximum allowed value for the group-level configuration of '
        'streams.heartbeat.interval.ms'
    ),
    'group.streams.max.session.timeout.ms': (
        'The maximum allowed value for the group-level configuration of '
        'streams.session.timeout.ms'
    ),
    'group.streams.max.standby.replicas': (
        'The maximum allowed value for the group-level configuration of '
        'streams.num.standby.replicas'
    ),
    'group.streams.min.assignment.interval.ms': (
        'The minimum interval between assignment updates for a streams group.'
    ),
    'group.streams.min.heartbeat.interval.ms': (
        'The minimum allowed value for the group-level configuration of '
        'streams.heartbeat.interval.ms'
    ),
    'group.streams.min.session.timeout.ms': (
        'The minimum allowed value for the group-level configuration of '
        'streams.session.timeout.ms'
    ),
    'group.streams.num.standby.replicas': (
        'The number of standby replicas for each task.'
    ),
    'group.streams.rack.aware.assignment.tags': (
        'List of client tag keys used to distribute standby replicas across Kafka '
        'Streams instances. When configured, and the used broker-side assignor supports '
        'it, it will make a best-effort to distribute standby tasks over each client tag '
        'dimension.'
    ),
    'group.streams.session.timeout.ms': (
        'The timeout to detect client failures when using the streams group protocol.'
    ),
    'listeners': (
        'Listener List - Comma-separated list of URIs we will listen on and the listener '
        'names. If the listener name is not a security protocol, '
        '<code>listener.security.protocol.map</code> must also be set.\n Listener names '
        'and port numbers must be unique unless one listener is an IPv4 address and the '
        'other listener is an IPv6 address (for the same port).\n Specify hostname as '
        '0.0.0.0 to bind to all interfaces.\n Leave hostname empty to bind to default '
        'interface.\n Examples of legal listener lists:\n '
        '<code>PLAINTEXT://myhost:9092,SSL://:9091</code>\n '
        '<code>CLIENT://0.0.0.0:9092,REPLICATION://localhost:9093</code>\n '
        '<code>PLAINTEXT://127.0.0.1:9092,SSL://[::1]:9092</code>\n'
    ),
    'log.cleaner.backoff.ms': (
        'The amount of time to sleep when there are no logs to clean'
    ),
    'log.cleaner.dedupe.buffer.size': (
        'The total memory used for log deduplication across all cleaner threads'
    ),
    'log.cleaner.delete.retention.ms': (
        'The amount of time to retain tombstone message markers for log compacted '
        'topics. This setting also gives a bound on the time in which a consumer must '
        'complete a read if they begin from offset 0 to ensure that they get a valid '
        'snapshot of the final stage (otherwise  tombstones messages may be collected '
        'before a consumer completes their scan).'
    ),
    'log.cleaner.io.buffer.load.factor': (
        'Log cleaner dedupe buffer load factor. The percentage full the dedupe buffer '
        'can become. A higher value will allow more log to be cleaned at once but will '
        'lead to more hash collisions'
    ),
    'log.cleaner.io.buffer.size': (
        'The total memory used for log cleaner I/O buffers across all cleaner threads'
    ),
    'log.cleaner.io.max.bytes.per.second': (
        'The log cleaner will be throttled so that the sum of its read and write i/o '
        'will be less than this value on average'
    ),
    'log.cleaner.max.compaction.lag.ms': (
        'The maximum time a message will remain ineligible for compaction in the log. '
        'Only applicable for logs that are being compacted.'
    ),
    'log.cleaner.min.cleanable.ratio': (
        'The minimum ratio of dirty log to total log for a log to eligible for cleaning. '
        'If the log.cleaner.max.compaction.lag.ms or the '
        'log.cleaner.min.compaction.lag.ms configurations are also specified, then the '
        'log compactor considers the log eligible for compaction as soon as either: (i) '
        'the dirty ratio threshold has been met and the log has had dirty (uncompacted) '
        'records for at least the log.cleaner.min.compaction.lag.ms duration, or (ii) if '
        'the log has had dirty (uncompacted) records for at most the '
        'log.cleaner.max.compaction.lag.ms period.'
    ),
    'log.cleaner.min.compaction.lag.ms': (
        'The minimum time a message will remain uncompacted in the log. Only applicable '
        'for logs that are being compacted.'
    ),
    'log.cleaner.threads': (
        'The number of background threads to use for log cleaning'
    ),
    'log.cleanup.policy': (
        'This config designates the retention policy to use on log segments. The '
        '"delete" policy (which is the default) will discard old segments when their '
        'retention time or size limit has been reached. The "compact" policy will enable '
        '<a href="https://kafka.apache.org/documentation/#compaction">log '
        'compaction</a>, which retains the latest value for each key. It is also '
        'possible to specify both policies in a comma-separated list (e.g. '
        '"delete,compact"). In this case, old segments will be discarded per the '
        'retention time and size configuration, while retained segments will be '
        'compacted. An empty list means infinite retention - no cleanup policies will be '
        'applied and log segments will be retained indefinitely. Note that with remote '
        'storage enabled, local retention limits (log.local.retention.ms and '
        'log.local.retention.bytes) are still applied to local segments.'
    ),
    'log.dir': (
        'A comma-separated list of the directories where the log data is stored. '
        '(supplemental to log.dirs property)'
    ),
    'log.dirs': (
        'A comma-separated list of the directories where the log data is stored. If not '
        'set, the value in log.dir is used.'
    ),
    'log.flush.interval.messages': (
        'The number of messages accumulated on a log partition before messages are '
        'flushed to disk.'
    ),
    'log.flush.interval.ms': (
        'The maximum time in ms that a message in any topic is kept in memory before '
        'flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is '
        'used'
    ),
    'log.flush.scheduler.interval.ms': (
        'The frequency in ms that the log flusher checks whether any log needs to be '
        'flushed to disk'
    ),
    'log.index.interval.bytes': (
        'The interval with which we add an entry to the offset index.'
    ),
    'log.index.size.max.bytes': (
        'The maximum size in bytes of the offset index'
    ),
    'log.message.timestamp.after.max.ms': (
        'This configuration sets the allowable timestamp difference between the message '
        "timestamp and the broker's timestamp. The message timestamp can be later than "
        "or equal to the broker's timestamp, with the maximum allowable difference "
        'determined by the value set in this configuration. If '
        'log.message.timestamp.type=CreateTime, the message will be rejected if the '
        'difference in timestamps exceeds this specified threshold. This configuration '
        'is ignored if log.message.timestamp.type=LogAppendTime.'
    ),
    'log.message.timestamp.before.max.ms': (
        "This configuration sets the allowable timestamp difference between the broker's "
        'timestamp and the message timestamp. The message timestamp can be earlier than '
        "or equal to the broker's timestamp, with the maximum allowable difference "
        'determined by the value set in this configuration. If '
        'log.message.timestamp.type=CreateTime, the message will be rejected if the '
        'difference in timestamps exceeds this specified threshold. This configuration '
        'is ignored if log.message.timestamp.type=LogAppendTime.'
    ),
    'log.message.timestamp.type': (
        'Define whether the timestamp in the message is message create time or log '
        'append time. The value should be either <code>CreateTime</code> or '
        '<code>LogAppendTime</code>.'
    ),
    'log.preallocate': (
        'Should pre allocate file when create new segment? If you are using Kafka on '
        'Windows, you probably need to set it to true.'
    ),
    'log.retention.bytes': (
        'The maximum size of the log before deleting it'
    ),
    'log.retention.check.interval.ms': (
        'The frequency in milliseconds that the log cleaner checks whether any log is '
        'eligible for deletion'
    ),
    'log.retention.hours': (
        'The number of hours to keep a log file before deleting it (in hours), tertiary '
        'to log.retention.ms property'
    ),
    'log.retention.minutes': (
        'The number of minutes to keep a log file before deleting it (in minutes), '
        'secondary to log.retention.ms property. If not set, the value in '
        'log.retention.hours is used'
    ),
    'log.retention.ms': (
        'The number of milliseconds to keep a log file before deleting it (in '
        'milliseconds), If not set, the value in log.retention.minutes is used. If set '
        'to -1, no time limit is applied.'
    ),
    'log.roll.hours': (
        'The maximum time before a new log segment is rolled out (in hours), secondary '
        'to log.roll.ms property'
    ),
    'log.roll.ms': (
        'The maximum time before a new log segment is rolled out (in milliseconds). If '
        'not set, the value in log.roll.hours is used'
    ),
    'log.segment.bytes': (
        'The maximum size of a single log file'
    ),
    'log.segment.delete.delay.ms': (
        'The amount of time to wait before deleting a file from the filesystem. If the '
        'value is 0 and there is no file to delete, the system will wait 1 millisecond. '
        'Low value will cause busy waiting'
    ),
    'max.connections': (
        'The maximum number of connections we allow in the broker at any time. This '
        'limit is applied in addition to any per-ip limits configured using '
        'max.connections.per.ip. Listener-level limits may also be configured by '
        'prefixing the config name with the listener prefix, for example, '
        '<code>listener.name.internal.max.connections.per.ip</code>. Broker-wide limit '
        'should be configured based on broker capacity while listener limits should be '
        'configured based on application requirements. New connections are blocked if '
        'either the listener or broker limit is reached. Connections on the inter-broker '
        'listener are permitted even if broker-wide limit is reached. The least recently '
        'used connection on another listener will be closed in this case.'
    ),
    'max.incremental.fetch.session.cache.slots': (
        'The maximum number of total incremental fetch sessions that we will maintain. '
        'FetchSessionCache is sharded into 8 shards and the limit is equally divided '
        'among all shards. Sessions are allocated to each shard in round-robin. Only '
        'entries within a shard are considered eligible for eviction.'
    ),
    'message.max.bytes': (
        'The largest record batch size allowed by Kafka (after compression if '
        'compression is enabled).This can be set per topic with the topic level '
        '<code>max.message.bytes</code> config.'
    ),
    'min.insync.replicas': (
        'Specifies the <i>minimum</i> number of in-sync replicas (including the leader) '
        'required for a write to succeed when a producer sets <code>acks</code> to "all" '
        '(or "-1"). In the <code>acks=all</code> case, every in-sync replica must '
        'acknowledge a write for it to be considered successful. E.g., if a topic has '
        '<code>replication.factor</code> of 3 and the ISR set includes all three '
        'replicas, then all three replicas must acknowledge an <code>acks=all</code> '
        'write for it to succeed, even if <code>min.insync.replicas</code> happens to be '
        'less than 3. If <code>acks=all</code> and the current ISR set contains fewer '
        'than <code>min.insync.replicas</code> members, then the producer will raise an '
        'exception (either <code>NotEnoughReplicas</code> or '
        '<code>NotEnoughReplicasAfterAppend</code>).<br> Regardless of the '
        '<code>acks</code> setting, the messages will not be visible to the consumers '
        'until they are replicated to all in-sync replicas and the '
        '<code>min.insync.replicas</code> condition is met.<br> When used together, '
        '<code>min.insync.replicas</code> and <code>acks</code> allow you to enforce '
        'greater durability guarantees. A typical scenario would be to create a topic '
        'with a replication factor of 3, set <code>min.insync.replicas</code> to 2, and '
        'produce with <code>acks</code> of "all". This ensures that a majority of '
        "replicas must persist a write before it's considered successful by the producer "
        "and it's visible to consumers.<p>Note that when the Eligible Leader Replicas "
        'feature is enabled, the semantics of this config changes. Please refer to <a '
        'href="https://kafka.apache.org/documentation/#eligible_leader_replicas">the ELR '
        'section</a> for more info.</p>'
    ),
    'node.id': (
        'The node ID associated with the roles this process is playing when '
        '<code>process.roles</code> is non-empty. This is required configuration when '
        'running in KRaft mode.'
    ),
    'num.io.threads': (
        'The number of threads that the server uses for processing requests, which may '
        'include disk I/O'
    ),
    'num.network.threads': (
        'The number of threads that the server uses for receiving requests from the '
        'network and sending responses to the network. Noted: each listener (except for '
        'controller listener) creates its own thread pool.'
    ),
    'num.partitions': (
        'The default number of log partitions per topic. This configuration affects the '
        'following paths:<ul>  <li>1. Auto topic creation</li>  <li>2. Internal streams '
        'topic creation</li>  <li>3. Topic creation via '
        '<code>AdminClient#createTopics</code> when the number of partition is set to '
        '-1</li></ul><p>For (1), the value from the broker configuration is used only '
        'when it is explicitly set. If it is not explicitly configured on the broker, '
        'the value from the controller configuration is used.<br/>For (2) and (3), the '
        'value from the controller configuration is always used.</p>'
    ),
    'num.recovery.threads.per.data.dir': (
        'The number of threads per data directory to be used for log recovery at startup '
        'and flushing at shutdown'
    ),
    'num.replica.fetchers': (
        'Number of fetcher threads used to replicate records from each source broker. '
        'The total number of fetchers on each broker is bound by '
        '<code>num.replica.fetchers</code> multiplied by the number of brokers in the '
        'cluster.Increasing this value can increase the degree of I/O parallelism in the '
        'follower and leader broker at the cost of higher CPU and memory utilization.'
    ),
    'offsets.retention.minutes': (
        'For subscribed consumers, committed offset of a specific partition will be '
        'expired and discarded when 1) this retention period has elapsed after the '
        'consumer group loses all its consumers (i.e. becomes empty); 2) this retention '
        'period has elapsed since the last time an offset is committed for the partition '
        'and the group is no longer subscribed to the corresponding topic. For '
        'standalone consumers (using manual assignment), offsets will be expired after '
        'this retention period has elapsed since the time of last commit. Note that when '
        'a group is deleted via the delete-group request, its committed offsets will '
        'also be deleted without extra retention period; also when a topic is deleted '
        "via the delete-topic request, upon propagated metadata update any group's "
        'committed offsets for that topic will also be deleted without extra retention '
        'period.'
    ),
    'offsets.topic.num.partitions': (
        'The number of partitions for the offset commit topic (should not change after '
        'deployment).'
    ),
    'process.roles': (
        "The roles that this process plays: 'broker', 'controller', or "
        "'broker,controller' if it is both. "
    ),
    'producer.id.expiration.ms': (
        'The time in ms that a topic partition leader will wait before expiring producer '
        'IDs. Producer IDs will not expire while a transaction associated to them is '
        'still ongoing. Note that producer IDs may expire sooner if the last write from '
        "the producer ID is deleted due to the topic's retention settings. Setting this "
        'value the same or higher than <code>delivery.timeout.ms</code> can help prevent '
        'expiration during retries and protect against message duplication, but the '
        'default should be reasonable for most use cases.'
    ),
    'queued.max.request.bytes': (
        'The number of queued bytes allowed before no more requests are read'
    ),
    'socket.request.max.bytes': (
        'The maximum number of bytes in a socket request'
    ),
    'unclean.leader.election.enable': (
        'Indicates whether to enable replicas not in the ISR set to be elected as leader '
        'as a last resort, even though doing so may result in data loss<p>Note: In KRaft '
        'mode, when enabling this config dynamically, it needs to wait for the unclean '
        'leader election thread to trigger election periodically (default is 5 minutes). '
        'Please run <code>kafka-leader-election.sh</code> with <code>unclean</code> '
        'option to trigger the unclean leader election immediately if needed.</p>'
    ),
}

TOPIC_DOCS: Mapping[str, str] = {
    'cleanup.policy': (
        'This config designates the retention policy to use on log segments. The '
        '"delete" policy (which is the default) will discard old segments when their '
        'retention time or size limit has been reached. The "compact" policy will enable '
        '<a href="https://kafka.apache.org/documentation/#compaction">log '
        'compaction</a>, which retains the latest value for each key. It is also '
        'possible to specify both policies in a comma-separated list (e.g. '
        '"delete,compact"). In this case, old segments will be discarded per the '
        'retention time and size configuration, while retained segments will be '
        'compacted. An empty list means infinite retention - no cleanup policies will be '
        'applied and log segments will be retained indefinitely. Note that with remote '
        'storage enabled, local retention limits (log.local.retention.ms and '
        'log.local.retention.bytes) are still applied to local segments.'
    ),
    'compression.gzip.level': (
        'The compression level to use if compression.type is set to <code>gzip</code>.'
    ),
    'compression.lz4.level': (
        'The compression level to use if compression.type is set to <code>lz4</code>.'
    ),
    'compression.type': (
        'Specify the final compression type for a given topic. This configuration '
        "accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It "
        "additionally accepts 'uncompressed' which is equivalent to no compression; and "
        "'producer' which means retain the original compression codec set by the "
        'producer.'
    ),
    'compression.zstd.level': (
        'The compression level to use if compression.type is set to <code>zstd</code>.'
    ),
    'delete.retention.ms': (
        'The amount of time to retain delete tombstone markers for <a '
        'href="https://kafka.apache.org/documentation/#compaction">log compacted</a> '
        'topics. This setting also gives a bound on the time in which a consumer must '
        'complete a read if they begin from offset 0 to ensure that they get a valid '
        'snapshot of the final stage (otherwise delete tombstones may be collected '
        'before they complete their scan).'
    ),
    'file.delete.delay.ms': (
        'The time to wait before deleting a file from the filesystem'
    ),
    'flush.messages': (
        'This setting allows specifying an interval at which we will force an fsync of '
        'data written to the log. For example if this was set to 1 we would fsync after '
        'every message; if it were 5 we would fsync after every five messages. In '
        'general we recommend you not set this and use replication for durability and '
        "allow the operating system's background flush capabilities as it is more "
        'efficient. This setting can be overridden on a per-topic basis (see <a '
        'href="https://kafka.apache.org/documentation/#topicconfigs">the per-topic '
        'configuration section</a>).'
    ),
    'flush.ms': (
        'This setting allows specifying a time interval at which we will force an fsync '
        'of data written to the log. For example if this was set to 1000 we would fsync '
        'after 1000 ms had passed. Note that this setting depends on the broker-level '
        'configuration <code>log.flush.scheduler.interval.ms</code>, which controls how '
        'frequently the flush check occurs. In general we recommend you not set this and '
        "use replication for durability and allow the operating system's background "
        'flush capabilities as it is more efficient.'
    ),
    'index.interval.bytes': (
        'This setting controls how frequently Kafka adds entries to its offset index '
        'and, conditionally, to its time index. The default setting ensures that we '
        'index a message roughly every 4096 bytes. More frequent indexing allows reads '
        'to jump closer to the exact position in the log but results in larger index '
        "files. You probably don't need to change this.<p> Note: the time index will be "
        'inserted only when the timestamp is greater than the last indexed timestamp.</p>'
    ),
    'max.compaction.lag.ms': (
        'The maximum time a message will remain ineligible for compaction in the log. '
        'Only applicable for logs that are being compacted. Because the active segment '
        'is never compacted, for compacted topics this value also drives active segment '
        'rolling: the effective time-based roll threshold is the smaller of '
        '<code>segment.ms</code> and <code>max.compaction.lag.ms</code>. Active segment '
        'rolling moves records out of the active segment, after which '
        '<code>max.compaction.lag.ms</code> makes them eligible for compaction even if '
        '<code>min.cleanable.dirty.ratio</code> is not met. See <a '
        'href="https://kafka.apache.org/documentation/#compaction">log compaction</a>.'
    ),
    'max.message.bytes': (
        'The largest record batch size allowed by Kafka (after compression if '
        'compression is enabled).'
    ),
    'message.timestamp.after.max.ms': (
        'This configuration sets the allowable timestamp difference between the message '
        "timestamp and the broker's timestamp. The message timestamp can be later than "
        "or equal to the broker's timestamp, with the maximum allowable difference "
        'determined by the value set in this configuration. If '
        'message.timestamp.type=CreateTime, the message will be rejected if the '
        'difference in timestamps exceeds this specified threshold. This configuration '
        'is ignored if message.timestamp.type=LogAppendTime.'
    ),
    'message.timestamp.before.max.ms': (
        "This configuration sets the allowable timestamp difference between the broker's "
        'timestamp and the message timestamp. The message timestamp can be earlier than '
        "or equal to the broker's timestamp, with the maximum allowable difference "
        'determined by the value set in this configuration. If '
        'message.timestamp.type=CreateTime, the message will be rejected if the '
        'difference in timestamps exceeds this specified threshold. This configuration '
        'is ignored if message.timestamp.type=LogAppendTime.'
    ),
    'message.timestamp.type': (
        'Define whether the timestamp in the message is message create time or log '
        'append time.'
    ),
    'min.cleanable.dirty.ratio': (
        'This configuration controls how frequently the log compactor will attempt to '
        'clean the log (assuming <a '
        'href="https://kafka.apache.org/documentation/#compaction">log compaction</a> is '
        'enabled). By default we will avoid cleaning a log where more than 50% of the '
        'log has been compacted. This ratio bounds the maximum space wasted in the log '
        'by duplicates (at 50% at most 50% of the log could be duplicates). A higher '
        'ratio will mean fewer, more efficient cleanings but will mean more wasted space '
        'in the log. If the max.compaction.lag.ms or the min.compaction.lag.ms '
        'configurations are also specified, then the log compactor considers the log to '
        'be eligible for compaction as soon as either: (i) the dirty ratio threshold has '
        'been met and the log has had dirty (uncompacted) records for at least the '
        'min.compaction.lag.ms duration, or (ii) if the log has had dirty (uncompacted) '
        'records for at most the max.compaction.lag.ms period.'
    ),
    'min.compaction.lag.ms': (
        'The minimum time a message will remain uncompacted in the log. Only applicable '
        'for logs that are being compacted.'
    ),
    'min.insync.replicas': (
        'Specifies the <i>minimum</i> number of in-sync replicas (including the leader) '
        'required for a write to succeed when a producer sets <code>acks</code> to "all" '
        '(or "-1"). In the <code>acks=all</code> case, every in-sync replica must '
        'acknowledge a write for it to be considered successful. E.g., if a topic has '
        '<code>replication.factor</code> of 3 and the ISR set includes all three '
        'replicas, then all three replicas must acknowledge an <code>acks=all</code> '
        'write for it to succeed, even if <code>min.insync.replicas</code> happens to be '
        'less than 3. If <code>acks=all</code> and the current ISR set contains fewer '
        'than <code>min.insync.replicas</code> members, then the producer will raise an '
        'exception (either <code>NotEnoughReplicas</code> or '
        '<code>NotEnoughReplicasAfterAppend</code>).<br> Regardless of the '
        '<code>acks</code> setting, the messages will not be visible to the consumers '
        'until they are replicated to all in-sync replicas and the '
        '<code>min.insync.replicas</code> condition is met.<br> When used together, '
        '<code>min.insync.replicas</code> and <code>acks</code> allow you to enforce '
        'greater durability guarantees. A typical scenario would be to create a topic '
        'with a replication factor of 3, set <code>min.insync.replicas</code> to 2, and '
        'produce with <code>acks</code> of "all". This ensures that a majority of '
        "replicas must persist a write before it's considered successful by the producer "
        "and it's visible to consumers.<p>Note that when the Eligible Leader Replicas "
        'feature is enabled, the semantics of this config changes. Please refer to <a '
        'href="https://kafka.apache.org/documentation/#eligible_leader_replicas">the ELR '
        'section</a> for more info.</p>'
    ),
    'preallocate': (
        'True if we should preallocate the file on disk when creating a new log segment.'
    ),
    'retention.bytes': (
        'This configuration controls the maximum size a partition (which consists of log '
        'segments) can grow to before we will discard old log segments to free up space '
        'if we are using the "delete" retention policy. By default there is no size '
        'limit only a time limit. Since this limit is enforced at the partition level, '
        'multiply it by the number of partitions to compute the topic retention in '
        'bytes. Additionally, retention.bytes configuration operates independently of '
        '"segment.ms" and "segment.bytes" configurations. Moreover, it triggers the '
        'rolling of new segment if the retention.bytes is configured to zero.'
    ),
    'retention.ms': (
        'This configuration controls the maximum time we will retain a log before we '
        'will discard old log segments to free up space if we are using the "delete" '
        'retention policy. This represents an SLA on how soon consumers must read their '
        'data. If set to -1, no time limit is applied. Additionally, retention.ms '
        'configuration operates independently of "segment.ms" and "segment.bytes" '
        'configurations. Moreover, it triggers the rolling of new segment if the '
        'retention.ms condition is satisfied.'
    ),
    'segment.bytes': (
        'This configuration controls the segment file size for the log. Retention and '
        'cleaning is always done a file at a time so a larger segment size means fewer '
        'files but less granular control over retention. The active segment is rolled '
        'once it reaches this size.'
    ),
    'segment.index.bytes': (
        'This configuration controls the size of the index that maps offsets to file '
        'positions. We preallocate this index file and shrink it only after log rolls. '
        'You generally should not need to change this setting.'
    ),
    'segment.jitter.ms': (
        'The maximum random jitter subtracted from the scheduled segment roll time to '
        'avoid thundering herds of segment rolling'
    ),
    'segment.ms': (
        'This configuration controls the period of time after which Kafka will force the '
        "log to roll even if the segment file isn't full to ensure that retention can "
        'delete or compact old data. This forces active segment rolling by time, even if '
        'the active segment has not reached <code>segment.bytes</code>. For compacted '
        'topics, <code>max.compaction.lag.ms</code> can trigger active segment rolling '
        'sooner: the effective time-based roll threshold is the smaller of '
        '<code>segment.ms</code> and <code>max.compaction.lag.ms</code>.'
    ),
    'unclean.leader.election.enable': (
        'Indicates whether to enable replicas not in the ISR set to be elected as leader '
        'as a last resort, even though doing so may result in data loss.<p>Note: In '
        'KRaft mode, when enabling this config dynamically, it needs to wait for the '
        'unclean leader electionthread to trigger election periodically (default is 5 '
        'minutes). Please run <code>kafka-leader-election.sh</code> with '
        '<code>unclean</code> option to trigger the unclean leader election immediately '
        'if needed.</p>'
    ),
}

GROUP_DOCS: Mapping[str, str] = {
    'consumer.assignment.interval.ms': (
        'The interval between assignment updates for a consumer group.'
    ),
    'consumer.heartbeat.interval.ms': (
        'The heartbeat interval given to the members of a consumer group.'
    ),
    'consumer.session.timeout.ms': (
        'The timeout to detect client failures when using the consumer group protocol.'
    ),
    'errors.deadletterqueue.copy.record.enable': (
        'When writing onto the dead-letter queue topic, whether to copy the original '
        'record onto the DLQ topic, or just write a record containing the context '
        'information headers.'
    ),
    'errors.deadletterqueue.topic.name': (
        'The name of the topic to be used as the dead-letter queue (DLQ) topic for this '
        'share group. If blank (the default), the group does not have a DLQ topic.'
    ),
    'share.assignment.interval.ms': (
        'The interval between assignment updates for a share group.'
    ),
    'share.auto.offset.reset': (
        'The strategy to initialize the share-partition start offset. <ul><li>earliest: '
        'automatically reset the offset to the earliest offset</li><li>latest: '
        'automatically reset the offset to the latest '
        'offset</li><li>by_duration:&lt;duration&gt;: automatically reset the offset to '
        'a configured duration from the current timestamp. &lt;duration&gt; must be '
        'specified in ISO8601 format (PnDTnHnMn.nS). Negative duration is not '
        'allowed.</li><li>anything else: throw exception to the share consumer.</li></ul>'
    ),
    'share.delivery.count.limit': (
        'The maximum number of delivery attempts for a record delivered to a share group.'
    ),
    'share.heartbeat.interval.ms': (
        'The heartbeat interval given to the members of a share group.'
    ),
    'share.isolation.level': (
        'Controls how to read records written transactionally. If set to '
        '"read_committed", the share group will only deliver transactional records which '
        'have been committed. If set to "read_uncommitted", the share group will return '
        'all messages, even transactional messages which have been aborted. '
        'Non-transactional records will be returned unconditionally in either mode.'
    ),
    'share.partition.max.record.locks': (
        'Share-group record lock limit per share-partition.'
    ),
    'share.record.lock.duration.ms': (
        'The record acquisition lock duration in milliseconds for share groups.'
    ),
    'share.renew.acknowledge.enable': (
        'Whether the renew acknowledge type is enabled for the share group.'
    ),
    'share.session.timeout.ms': (
        'The timeout to detect client failures when using the share group protocol.'
    ),
    'streams.assignment.interval.ms': (
        'The interval between assignment updates for a streams group.'
    ),
    'streams.assignor.name': (
        'The task assignor to use for this streams group, selected by short name from '
        'the assignors registered via the broker configuration group.streams.assignors. '
        "When unset, the group defaults to the first assignor configured in the broker's "
        'group.streams.assignors setting. Changing the assignor does not trigger a '
        'rebalance for the group; the new assignor takes effect on the next rebalance.'
    ),
    'streams.heartbeat.interval.ms': (
        'The heartbeat interval given to the members.'
    ),
    'streams.initial.rebalance.delay.ms': (
        'The amount of time the group coordinator will wait for more streams clients to '
        'join a new group before performing the first rebalance. A longer delay means '
        'potentially fewer rebalances.'
    ),
    'streams.num.standby.replicas': (
        'The number of standby replicas for each task.'
    ),
    'streams.rack.aware.assignment.tags': (
        'List of client tag keys used to distribute standby replicas across Kafka '
        'Streams instances. When configured, and the used broker-side assignor supports '
        'it, it will make a best-effort to distribute standby tasks over each client tag '
        'dimension.'
    ),
    'streams.session.timeout.ms': (
        'The timeout to detect client failures when using the streams group protocol.'
    ),
}
