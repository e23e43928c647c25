// Command testcluster runs a real, single-process Kubernetes control plane for discofilter's
// e2e tests: an embedded etcd plus kube-apiserver v1.37, both on loopback, and nothing else.
//
// Policy and reasons:
//   - No controllers by default. kube-controller-manager and the scheduler are not started: most
//     tests create EndpointSlices directly and only need objects and watch streams. Consequences a
//     test must know: pods stay Pending, no default ServiceAccount is created (so the
//     ServiceAccount admission plugin is disabled, else every pod create fails), and a deleted
//     namespace stays Terminating forever because the namespace controller never finalizes it.
//   - --controllers adds kube-controller-manager and kube-scheduler (this same binary, see
//     controllers.go) and, with --kwok, kwok managing fake nodes: then pods are scheduled and
//     become Running with IPs, Jobs complete, the EndpointSlice controller writes the slices and
//     namespaces are finalized. The ready line then carries their pids ("controllers").
//   - Authorization is RBAC, not AlwaysAllow, so the proxy's "forward the caller's credentials"
//     rule is observable: the admin token is in system:masters, the "istiod-like" token may only
//     get/list/watch (bound to a ClusterRole created at start-up), and an unknown token gets 401.
//   - TLS: one CA and one serving certificate (SANs 127.0.0.1, ::1, localhost) generated at start,
//     so clients verify the server with ca.crt instead of skipping verification.
//   - Everything lives in one directory (--dir, else a temporary one removed on exit).
//
// When the API server answers /readyz it prints exactly one JSON line on stdout:
//
//	{"url": "https://127.0.0.1:PORT", "kubeconfig": ".../admin.kubeconfig", "token": "...",
//	 "ca": ".../ca.crt", "istiod_token": "...", "istiod_kubeconfig": "...", "dir": "...",
//	 "etcd": "http://127.0.0.1:PORT"}
//
// then answers "compact" lines on stdin (see serveCommands), and runs until SIGTERM or SIGINT (kube-apiserver's own signal handler), after which it
// stops the API server and etcd and removes a temporary directory. Logs go to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "k8s.io/component-base/logs/json/register" // the API server's --logging-format=json
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// readyTimeout bounds start-up: etcd plus kube-apiserver's post-start hooks take 3-10 s on a
// 2-core machine; a minute leaves room for a loaded CI box without hanging a test session.
const readyTimeout = 60 * time.Second

// Control-plane flags (globals: they only pass from flag parsing to run).
var (
	withControllers     bool
	kwokBin, kwokConfig string
	podCIDR             string
)

// ready is the one JSON line printed on stdout when the cluster serves.
type ready struct {
	URL              string `json:"url"`
	Kubeconfig       string `json:"kubeconfig"`
	Token            string `json:"token"`
	CA               string `json:"ca"`
	IstiodToken      string `json:"istiod_token"`
	IstiodKubeconfig string `json:"istiod_kubeconfig"`
	Dir              string `json:"dir"`
	Etcd             string `json:"etcd"`
	// Controllers maps component name to pid; absent without --controllers.
	Controllers map[string]int `json:"controllers,omitempty"`
}

func main() {
	if multiCall() {
		return
	}
	dir := flag.String("dir", "", "state directory (certs, tokens, kubeconfigs, etcd data); default: a temporary directory removed on exit")
	verbosity := flag.Int("v", 0, "kube-apiserver log verbosity")
	extra := flag.String("apiserver-args", "", "extra kube-apiserver flags, space separated (e.g. --feature-gates=WatchList=false)")
	flag.BoolVar(&withControllers, "controllers", false, "also run kube-controller-manager and kube-scheduler (same version) as child processes")
	flag.StringVar(&kwokBin, "kwok", "", "with --controllers: path of a kwok binary to run for fake nodes (annotation kwok.x-k8s.io/node=fake)")
	flag.StringVar(&kwokConfig, "kwok-config", "", "with --kwok: kwok --config file holding the node and pod Stage documents")
	flag.StringVar(&podCIDR, "pod-cidr", "10.240.0.0/12", "with --kwok: pod IP range kwok allocates from (kwok's default /24 holds only 254 pods)")
	flag.Parse()
	if kwokBin != "" && (!withControllers || kwokConfig == "") {
		fmt.Fprintln(os.Stderr, "testcluster: --kwok needs --controllers and --kwok-config")
		os.Exit(2)
	}
	if err := run(*dir, *verbosity, *extra); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string, verbosity int, extra string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "discofilter-testcluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)

	creds, err := writeCredentials(dir)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	etcd, err := startEtcd(filepath.Join(dir, "etcd"))
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	port, err := freePort()
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	args := apiserverArgs(dir, creds, etcd.URL, port, verbosity, extra)

	cmd := app.NewAPIServerCommand() // installs the SIGTERM/SIGINT handler; cancels its context
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := waitReady(ctx, url, creds, done); err != nil {
		return err
	}
	if err := bootstrapRBAC(ctx, url, creds); err != nil {
		return fmt.Errorf("rbac bootstrap: %w", err)
	}
	r := ready{
		URL:              url,
		Kubeconfig:       filepath.Join(dir, "admin.kubeconfig"),
		Token:            creds.adminToken,
		CA:               creds.caFile,
		IstiodToken:      creds.istiodToken,
		IstiodKubeconfig: filepath.Join(dir, "istiod.kubeconfig"),
		Dir:              dir,
		Etcd:             etcd.URL,
	}
	if err := writeKubeconfig(r.Kubeconfig, url, creds.caFile, "admin", creds.adminToken); err != nil {
		return err
	}
	if err := writeKubeconfig(r.IstiodKubeconfig, url, creds.caFile, istiodUser, creds.istiodToken); err != nil {
		return err
	}
	if withControllers {
		plane, err := startControlPlane(dir, r.Kubeconfig, creds, verbosity, kwokBin, kwokConfig, podCIDR)
		if err != nil {
			return fmt.Errorf("control plane: %w", err)
		}
		defer plane.stop() // before etcd closes (defers run last-in first-out)
		r.Controllers = plane.pids()
	}
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	go serveCommands(etcd)

	err = <-done // returns once the signal handler cancelled the API server's context
	if err != nil && err != context.Canceled {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	return nil
}

// serveCommands reads test commands from stdin, one per line, and answers with one JSON line:
//
//	compact -> {"compacted": REV} (or {"error": "..."})
func serveCommands(etcd *etcdServer) {
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
		var out any
		switch s.Text() {
		case "compact":
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			rev, err := etcd.compact(ctx)
			cancel()
			if err != nil {
				out = map[string]string{"error": err.Error()}
			} else {
				out = map[string]int64{"compacted": rev}
			}
		default:
			out = map[string]string{"error": "unknown command " + s.Text()}
		}
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}
}

func apiserverArgs(dir string, c *credentials, etcdURL string, port, verbosity int, extra string) []string {
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file=" + c.certFile,
		"--tls-private-key-file=" + c.keyFile,
		"--client-ca-file=" + c.caFile,
		"--token-auth-file=" + c.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.saKeyFile,
		"--service-account-signing-key-file=" + c.saKeyFile,
		// A cluster IP range is required even though no service proxy runs; nothing is routed.
		"--service-cluster-ip-range=10.96.0.0/16",
		// No controller creates the "default" ServiceAccount, so this plugin would reject pods.
		// With --controllers, TaintNodesByCondition goes too: it taints every new node
		// not-ready:NoSchedule and only the node-lifecycle controller lifts it, which we do not
		// run (controllers.go says why), so nothing would ever be scheduled on kwok's nodes.
		"--disable-admission-plugins=" + disabledAdmission(),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--profiling=false",
		fmt.Sprintf("--v=%d", verbosity),
	}
	return append(args, strings.Fields(extra)...)
}

func disabledAdmission() string {
	if withControllers {
		return "ServiceAccount,TaintNodesByCondition"
	}
	return "ServiceAccount"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
