"""The RabbitMQ sink: the sink, its topology (exchange, queues, bindings), returns of unroutable messages, the broker's refusal texts, and the one adapter that touches aiormq's internals."""
