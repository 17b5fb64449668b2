// Command rollout-summary reads Flotilla's deploy events from the JetStream stream with a
// read-only NATS identity, decodes each one with the CloudEvents Go SDK (through its NATS
// JetStream binding) and prints a rollout summary per cluster.
//
//	NATS_PASSWORD=... rollout-summary -nats nats://nats:4222 -user subscriber
//
// The identity needs no more than `flotilla nats-auth` grants a subscriber: its own durable
// consumer (named like the user), replies on its own inbox prefix, and no publish rights on
// flotilla.v1.> (deploy/nats/README.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Structured-mode CloudEvents in JSON: the Content-Type every Flotilla message carries.
const cloudEventsJSON = "application/cloudevents+json"

// Deploy events: what a cluster was asked to run, how applying it went, and its health.
var deploySubjects = []string{
	"flotilla.v1.plan.created.*",
	"flotilla.v1.apply.*.*",
	"flotilla.v1.health.changed.*",
}

type options struct {
	url, user, durable, stream, mode, deliver string
	idle                                      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "nats", envOr("NATS_URL", nats.DefaultURL), "NATS server URL(s), comma-separated")
	flag.StringVar(&o.user, "user", os.Getenv("NATS_USER"), "NATS user (password from NATS_PASSWORD)")
	flag.StringVar(&o.durable, "durable", "", "durable consumer name (default: the user name, as its permissions require)")
	flag.StringVar(&o.stream, "stream", "FLOTILLA_EVENTS", "JetStream stream")
	flag.StringVar(&o.mode, "events", "deploy", "deploy: summarise deploy events; all: print every event as a JSON line")
	flag.StringVar(&o.deliver, "deliver", "new", "where a new consumer starts: new or all")
	flag.DurationVar(&o.idle, "idle", 0, "exit after this long without a message (0: run until SIGINT/SIGTERM)")
	flag.Parse()
	if o.durable == "" {
		o.durable = o.user
	}
	if o.durable == "" {
		o.durable = "rollout-summary"
	}
	if err := run(o); err != nil {
		log.Fatalf("rollout-summary: %v", err)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	natsOpts := []nats.Option{nats.Name("rollout-summary"), nats.MaxReconnects(-1)}
	if o.user != "" {
		natsOpts = append(natsOpts,
			nats.UserInfo(o.user, os.Getenv("NATS_PASSWORD")),
			// A subscriber identity may receive replies only on its own inbox prefix.
			nats.CustomInboxPrefix("_INBOX_"+o.user))
	}
	nc, err := nats.Connect(o.url, natsOpts...)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()

	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := js.Stream(ctx, o.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", o.stream, err)
	}
	subjects := deploySubjects
	if o.mode == "all" {
		subjects = []string{"flotilla.v1.>"}
	}
	deliver := jetstream.DeliverNewPolicy
	if o.deliver == "all" {
		deliver = jetstream.DeliverAllPolicy
	}
	consumer, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        o.durable,
		FilterSubjects: subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  deliver,
		MaxDeliver:     5,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", o.durable, err)
	}

	summary := NewSummary()
	var mu sync.Mutex
	last := time.Now()
	out := json.NewEncoder(os.Stdout)

	handle := func(m jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		last = time.Now()
		line, err := decode(ctx, m, o.mode, summary, out)
		if err != nil {
			// Nothing a retry fixes: report and drop it (acked), never stop the stream.
			log.Printf("skipping message on %s: %v", m.Subject(), err)
		} else if line != "" {
			fmt.Println(line)
		}
		if err := m.Ack(); err != nil {
			log.Printf("ack: %v", err)
		}
	}
	cc, err := consumer.Consume(handle)
	if err != nil {
		return err
	}
	defer cc.Stop()

	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-ticker.C:
			mu.Lock()
			done = o.idle > 0 && time.Since(last) > o.idle
			mu.Unlock()
		}
	}
	cc.Drain()
	if o.mode != "all" {
		mu.Lock()
		summary.Print(os.Stdout)
		mu.Unlock()
	}
	return nil
}

// decode turns one JetStream message into a CloudEvent with the SDK's NATS JetStream binding and
// validates it; in `all` mode it prints the decoded attributes as JSON, else it feeds the summary.
func decode(ctx context.Context, m jetstream.Msg, mode string, s *Summary, out *json.Encoder) (string, error) {
	contentType := m.Headers().Get("Content-Type")
	// The binding reads a message without ce- headers as a structured-mode event.
	msg := cejs.NewMessage(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	if msg.ReadEncoding() != binding.EncodingStructured {
		return "", errors.New("not a structured-mode CloudEvent")
	}
	event, err := binding.ToEvent(ctx, msg)
	if err != nil {
		return "", fmt.Errorf("not a CloudEvent: %w", err)
	}
	if err := event.Validate(); err != nil {
		return "", fmt.Errorf("invalid CloudEvent: %w", err)
	}
	if mode == "all" {
		return "", out.Encode(map[string]any{
			"type":            event.Type(),
			"id":              event.ID(),
			"source":          event.Source(),
			"specversion":     event.SpecVersion(),
			"subject":         event.Subject(),
			"time":            event.Time().UTC().Format(time.RFC3339Nano),
			"datacontenttype": event.DataContentType(),
			"dataschema":      event.DataSchema(),
			"extensions":      event.Extensions(),
			"natsSubject":     m.Subject(),
			"contentType":     contentType,
			"data":            json.RawMessage(event.Data()),
		})
	}
	if contentType != cloudEventsJSON {
		log.Printf("message on %s has Content-Type %q, expected %s", m.Subject(), contentType, cloudEventsJSON)
	}
	return s.Add(event.Type(), event.Data())
}
