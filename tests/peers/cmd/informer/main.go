// Command informer is a real client-go consumer for discofilter's e2e tests: one
// SharedInformerFactory with cluster-wide informers for pods, services and endpointslices,
// exactly the LIST+WATCH pattern istiod uses, through a given kubeconfig.
//
// Protocol (stdout carries only JSON lines; logs go to stderr):
//
//	{"synced": true, "watch_list": BOOL, "content_type": "..."}  once all informers HasSynced
//	{"cache": {...}, "events": {...}, "watch_errors": N, ...}      a snapshot, on each "dump"
//	                                                               line read from stdin, and a
//	                                                               final one when the run ends
//
// The run ends on SIGTERM/SIGINT, when stdin closes, after --duration, or (with
// --until-synced-and-idle D) once synced and no event arrived for D. The snapshot's cache is,
// per kind, the sorted list of {namespace, name, resourceVersion, uid}.
//
// WatchList: client-go reads its feature gates from KUBE_FEATURE_<Gate> environment variables
// on first use, so --watch-list sets KUBE_FEATURE_WatchListClient before any client exists;
// the effective value is reported back so a test never trusts the flag blindly.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// syncTimeout bounds the initial LIST (or WatchList stream): a few hundred objects take
// milliseconds; 60 s keeps a broken proxy from hanging a test forever.
const syncTimeout = 60 * time.Second

type options struct {
	kubeconfig  string
	contentType string
	watchList   string
	duration    time.Duration
	idle        time.Duration
	resync      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig to connect with (required)")
	flag.StringVar(&o.contentType, "content-type", "json", "json | protobuf")
	flag.StringVar(&o.watchList, "watch-list", "default", "on | off | default (client-go's WatchListClient feature gate)")
	flag.DurationVar(&o.duration, "duration", 0, "stop after this long (0: no limit)")
	flag.DurationVar(&o.idle, "until-synced-and-idle", 0, "stop once synced and no event arrived for this long (0: off)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "informer: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	switch o.watchList {
	case "on":
		os.Setenv("KUBE_FEATURE_WatchListClient", "true")
	case "off":
		os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	case "default":
	default:
		return fmt.Errorf("--watch-list must be on, off or default, not %q", o.watchList)
	}
	if o.kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	switch o.contentType {
	case "json":
		cfg.ContentType = "application/json"
		cfg.AcceptContentTypes = "application/json"
	case "protobuf":
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	default:
		return fmt.Errorf("--content-type must be json or protobuf, not %q", o.contentType)
	}
	cfg.UserAgent = "discofilter-e2e-informer"
	// The default 5 QPS would throttle relists after enrollment changes and make tests slow.
	cfg.QPS, cfg.Burst = 1000, 1000
	return watch(o, cfg)
}

type recorder struct {
	mu     sync.Mutex
	events map[string]map[string]int // kind -> add|update|delete -> count
	last   time.Time                 // when the latest event arrived
	errors int                       // watch errors seen by the reflectors (410s, drops)
	errMsg []string                  // their texts, newest last, at most maxErrMsgs
}

// maxErrMsgs keeps the snapshot small when a proxy misbehaves in a loop.
const maxErrMsgs = 20

func (r *recorder) count(kind, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events[kind] == nil {
		r.events[kind] = map[string]int{}
	}
	r.events[kind][what]++
	r.last = time.Now()
}

func (r *recorder) watchError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors++
	r.errMsg = append(r.errMsg, err.Error())
	if len(r.errMsg) > maxErrMsgs {
		r.errMsg = r.errMsg[1:]
	}
}

type entry struct {
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	ResourceVersion string `json:"resourceVersion"`
	UID             string `json:"uid"`
}

func watch(o options, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	kinds := map[string]cache.SharedIndexInformer{
		"pods":           factory.Core().V1().Pods().Informer(),
		"services":       factory.Core().V1().Services().Informer(),
		"endpointslices": factory.Discovery().V1().EndpointSlices().Informer(),
	}
	rec := &recorder{events: map[string]map[string]int{}, last: time.Now()}
	for kind, inf := range kinds {
		kind := kind
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { rec.count(kind, "add") },
			UpdateFunc: func(any, any) { rec.count(kind, "update") },
			DeleteFunc: func(any) { rec.count(kind, "delete") },
		})
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			rec.watchError(err)
		})
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	out := &printer{w: bufio.NewWriter(os.Stdout)}
	syncCtx, cancelSync := context.WithTimeout(ctx, syncTimeout)
	synced := cache.WaitForCacheSync(syncCtx.Done(), hasSynced(kinds)...)
	cancelSync()
	if !synced {
		out.print(snapshot(kinds, rec, "sync failed"))
		return fmt.Errorf("informers did not sync within %s", syncTimeout)
	}
	out.print(map[string]any{
		"synced":       true,
		"watch_list":   clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient),
		"content_type": cfg.ContentType,
	})

	commands := make(chan string)
	go readStdin(commands)
	var idleTick <-chan time.Time
	if o.idle > 0 {
		t := time.NewTicker(o.idle / 4)
		defer t.Stop()
		idleTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			out.print(snapshot(kinds, rec, "stopped"))
			return nil
		case cmd, ok := <-commands:
			if !ok {
				out.print(snapshot(kinds, rec, "stdin closed"))
				return nil
			}
			if cmd == "dump" {
				out.print(snapshot(kinds, rec, ""))
			}
		case <-idleTick:
			rec.mu.Lock()
			quiet := time.Since(rec.last) >= o.idle
			rec.mu.Unlock()
			if quiet {
				out.print(snapshot(kinds, rec, "idle"))
				return nil
			}
		}
	}
}

func hasSynced(kinds map[string]cache.SharedIndexInformer) []cache.InformerSynced {
	var out []cache.InformerSynced
	for _, inf := range kinds {
		out = append(out, inf.HasSynced)
	}
	return out
}

func readStdin(commands chan<- string) {
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
		commands <- s.Text()
	}
	close(commands)
}

func snapshot(kinds map[string]cache.SharedIndexInformer, rec *recorder, reason string) map[string]any {
	caches := map[string][]entry{}
	for kind, inf := range kinds {
		entries := []entry{}
		for _, obj := range inf.GetStore().List() {
			m, ok := obj.(metav1.Object)
			if !ok {
				continue
			}
			entries = append(entries, entry{m.GetNamespace(), m.GetName(), m.GetResourceVersion(), string(m.GetUID())})
		}
		sort.Slice(entries, func(i, j int) bool {
			if entries[i].Namespace != entries[j].Namespace {
				return entries[i].Namespace < entries[j].Namespace
			}
			return entries[i].Name < entries[j].Name
		})
		caches[kind] = entries
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	events := map[string]map[string]int{}
	for k, v := range rec.events {
		events[k] = map[string]int{}
		for what, n := range v {
			events[k][what] = n
		}
	}
	snap := map[string]any{
		"cache":         caches,
		"events":        events,
		"watch_errors":  rec.errors,
		"error_samples": append([]string{}, rec.errMsg...),
		"last_sync_rv":  lastSyncRVs(kinds),
	}
	if reason != "" {
		snap["final"] = reason
	}
	return snap
}

func lastSyncRVs(kinds map[string]cache.SharedIndexInformer) map[string]string {
	out := map[string]string{}
	for kind, inf := range kinds {
		out[kind] = inf.LastSyncResourceVersion()
	}
	return out
}

// printer writes one JSON document per line and flushes, so a test reading the pipe sees it
// at once.
type printer struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (p *printer) print(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	p.w.Write(b)
	p.w.WriteByte('\n')
	p.w.Flush()
}
