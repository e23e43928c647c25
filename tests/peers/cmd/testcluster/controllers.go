package main

// The optional rest of a control plane (--controllers): kube-controller-manager and kube-scheduler
// of the same k8s.io/kubernetes version as the API server, and kwok for fake nodes, each in its
// own child process.
//
// Why child processes and not goroutines: kube-apiserver, kube-scheduler and (for the signal
// context) kube-controller-manager each install the one process-wide SIGTERM handler that
// k8s.io/apiserver allows (a second call panics), and separate processes give the benchmark
// per-component CPU and RSS. The controller manager and the scheduler are this same binary run
// with a first argument naming them (see multiCall), so one link serves all three and nothing
// else has to be built or found.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/component-base/cli"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// kcmControllers is what a workload cluster needs and nothing that would act against fake nodes:
// the list (deployment, replicaset, job, cronjob, endpointslice, endpointslicemirroring,
// namespace, garbage collector, service accounts) plus the TTL-after-finished and pod GC cleaners
// that keep completed CronJob pods from piling up, and the root CA publisher real pods rely on.
// Left out on purpose: node-lifecycle and taint-eviction (kwok's "fast" node stage sets Ready
// once and sends no heartbeats, so the lifecycle controller would taint and evict every pod after
// 40 s; without it the TaintNodesByCondition admission plugin must go too, see apiserverArgs),
// node-ipam, volume and certificate controllers (nothing here uses them), and the legacy
// Endpoints controller (istiod reads EndpointSlices; Endpoints would double the API server's
// write load for nothing this benchmark measures).
var kcmControllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"job-controller",
	"cronjob-controller",
	"ttl-after-finished-controller",
	"pod-garbage-collector-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
}

// apiQPS lifts client-side throttling (kube-controller-manager's default is 20 QPS, the
// scheduler's 50): on one loopback API server the throttle, not the server, would otherwise set
// the churn rate, and kwok's own client is unthrottled. kube-burner's kwok clusters do the same.
const (
	apiQPS   = "2000"
	apiBurst = "4000"
)

// childStopTimeout bounds a child's graceful exit after SIGTERM (each takes about a second).
const childStopTimeout = 10 * time.Second

// multiCall runs this binary as kube-controller-manager or kube-scheduler when the first argument
// names one; it returns false otherwise.
func multiCall() bool {
	if len(os.Args) < 2 {
		return false
	}
	switch os.Args[1] {
	case "kube-controller-manager":
		cmd := kcm.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	}
	return false
}

type child struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
}

// controlPlane is the set of running children, stopped in reverse start order.
type controlPlane struct {
	children []*child
}

func (p *controlPlane) pids() map[string]int {
	out := map[string]int{}
	for _, c := range p.children {
		out[c.name] = c.cmd.Process.Pid
	}
	return out
}

func (p *controlPlane) start(name, dir string, argv []string) error {
	log, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig: if testcluster is SIGKILLed (a test session torn down hard), the children die
	// with it instead of hammering a dead API server forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p.children = append(p.children, &child{name: name, cmd: cmd, log: log})
	return nil
}

func (p *controlPlane) stop() {
	for i := len(p.children) - 1; i >= 0; i-- {
		c := p.children[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(childStopTimeout):
			_ = c.cmd.Process.Kill()
			<-done
		}
		c.log.Close()
	}
}

// startControlPlane starts kube-controller-manager, kube-scheduler and (when kwokBin is set) kwok
// against the API server whose admin kubeconfig is given.
func startControlPlane(dir, kubeconfig string, c *credentials, verbosity int, kwokBin, kwokConfig, podCIDR string) (*controlPlane, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &controlPlane{}
	v := fmt.Sprintf("--v=%d", verbosity)
	kcmArgs := []string{
		self, "kube-controller-manager",
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--secure-port=0", // no HTTPS endpoint: nothing reads its metrics, and no port to pick
		"--controllers=" + strings.Join(kcmControllers, ","),
		"--service-account-private-key-file=" + c.saKeyFile,
		"--root-ca-file=" + c.caFile,
		"--kube-api-qps=" + apiQPS, "--kube-api-burst=" + apiBurst,
		// Completed pods of CronJob tenants are collected by the Job's history limit and
		// ttlSecondsAfterFinished; the pod GC threshold is the backstop (default 12500).
		"--terminated-pod-gc-threshold=1000",
		v,
	}
	if err := p.start("kube-controller-manager", dir, kcmArgs); err != nil {
		return nil, err
	}
	schedArgs := []string{
		self, "kube-scheduler",
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--kube-api-qps=" + apiQPS, "--kube-api-burst=" + apiBurst,
		v,
	}
	if err := p.start("kube-scheduler", dir, schedArgs); err != nil {
		p.stop()
		return nil, err
	}
	if kwokBin != "" {
		kwokArgs := []string{
			kwokBin,
			"--kubeconfig=" + kubeconfig,
			"--config=" + kwokConfig,
			// Only nodes we create with this annotation are kwok's; a test may create real-looking
			// nodes kwok must not touch.
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--cidr=" + podCIDR,
			"--node-ip=10.255.0.1",
			"--server-address=", // no kubelet-like HTTP server: no logs/exec are asked for
		}
		if err := p.start("kwok", dir, kwokArgs); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}
