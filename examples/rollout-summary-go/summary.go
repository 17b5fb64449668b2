package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The fields of Flotilla's deploy events this example reads. Only fields that docs/events.md
// lists as stable within v1 are used; anything else in `data` is ignored, so new optional
// fields (a `pipeline`, say) never break it.
type planCreated struct {
	Cluster  string `json:"cluster"`
	PlanID   string `json:"planId"`
	Revision string `json:"revision"`
	Pipeline string `json:"pipeline,omitempty"`
}

type applyStarted struct {
	Cluster string `json:"cluster"`
	PlanID  string `json:"planId"`
	Objects int    `json:"objects"`
}

type applySucceeded struct {
	Cluster  string `json:"cluster"`
	PlanID   string `json:"planId"`
	Revision string `json:"revision"`
	Counts   struct {
		Total     int `json:"total"`
		Applied   int `json:"applied"`
		Unchanged int `json:"unchanged"`
		Pruned    int `json:"pruned"`
	} `json:"counts"`
	DurationMs int `json:"durationMs"`
}

type applyFailed struct {
	Cluster string `json:"cluster"`
	PlanID  string `json:"planId"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type healthChanged struct {
	Cluster  string `json:"cluster"`
	Revision string `json:"revision"`
	Status   string `json:"status"`
}

// rollout is what is known about one cluster: its latest plan and how applying it went.
type rollout struct {
	Cluster  string
	PlanID   string
	Revision string
	Pipeline string
	Apply    string
	Health   string
}

// Summary folds deploy events into one rollout per cluster. It is pure: the NATS and CloudEvents
// plumbing lives in main.go.
type Summary struct {
	clusters map[string]*rollout
}

func NewSummary() *Summary { return &Summary{clusters: map[string]*rollout{}} }

func (s *Summary) get(cluster string) *rollout {
	r, ok := s.clusters[cluster]
	if !ok {
		r = &rollout{Cluster: cluster, Apply: "-", Health: "-"}
		s.clusters[cluster] = r
	}
	return r
}

// Add applies one event (CloudEvents type and JSON data); it returns a one-line description,
// or "" for types it does not summarise.
func (s *Summary) Add(eventType string, data []byte) (string, error) {
	switch eventType {
	case "io.flotilla.plan.created.v1":
		var d planCreated
		if err := json.Unmarshal(data, &d); err != nil {
			return "", err
		}
		r := s.get(d.Cluster)
		*r = rollout{Cluster: d.Cluster, PlanID: d.PlanID, Revision: d.Revision, Pipeline: d.Pipeline, Apply: "planned", Health: "-"}
		return fmt.Sprintf("%s: plan %s for revision %s", d.Cluster, d.PlanID, short(d.Revision)), nil
	case "io.flotilla.apply.started.v1":
		var d applyStarted
		if err := json.Unmarshal(data, &d); err != nil {
			return "", err
		}
		r := s.get(d.Cluster)
		r.PlanID, r.Apply = d.PlanID, "applying"
		return fmt.Sprintf("%s: applying %s (%d objects)", d.Cluster, d.PlanID, d.Objects), nil
	case "io.flotilla.apply.succeeded.v1":
		var d applySucceeded
		if err := json.Unmarshal(data, &d); err != nil {
			return "", err
		}
		r := s.get(d.Cluster)
		r.PlanID, r.Revision = d.PlanID, d.Revision
		r.Apply = fmt.Sprintf("applied %d/%d", d.Counts.Applied+d.Counts.Unchanged, d.Counts.Total)
		return fmt.Sprintf("%s: %s applied (%d changed, %d unchanged, %d pruned) in %d ms", d.Cluster, d.PlanID,
			d.Counts.Applied, d.Counts.Unchanged, d.Counts.Pruned, d.DurationMs), nil
	case "io.flotilla.apply.failed.v1":
		var d applyFailed
		if err := json.Unmarshal(data, &d); err != nil {
			return "", err
		}
		r := s.get(d.Cluster)
		r.PlanID, r.Apply = d.PlanID, "failed: "+d.Code
		return fmt.Sprintf("%s: %s failed: %s (%s)", d.Cluster, d.PlanID, d.Code, d.Message), nil
	case "io.flotilla.health.changed.v1":
		var d healthChanged
		if err := json.Unmarshal(data, &d); err != nil {
			return "", err
		}
		r := s.get(d.Cluster)
		r.Health = d.Status
		if r.Revision == "" {
			r.Revision = d.Revision
		}
		return fmt.Sprintf("%s: health %s at %s", d.Cluster, d.Status, short(d.Revision)), nil
	}
	return "", nil
}

// Print writes the rollout summary: one row per cluster, sorted by name.
func (s *Summary) Print(w io.Writer) {
	names := make([]string, 0, len(s.clusters))
	for n := range s.clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-12s %-24s %-12s %-16s %s\n", "CLUSTER", "PLAN", "REVISION", "APPLY", "HEALTH")
	for _, n := range names {
		r := s.clusters[n]
		plan := r.PlanID
		if r.Pipeline != "" {
			plan = r.Pipeline + "/" + plan
		}
		fmt.Fprintf(w, "%-12s %-24s %-12s %-16s %s\n", r.Cluster, dash(plan), dash(short(r.Revision)), r.Apply, r.Health)
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
