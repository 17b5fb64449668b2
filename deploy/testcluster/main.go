// Command testcluster runs a real, single-process Kubernetes control plane for
// Flotilla's tests and demo: embedded etcd, kube-apiserver and
// kube-controller-manager (Kubernetes 1.34.3), plus fake Nodes, a tiny pod binder
// and a KWOK child process so that workloads reach Running/Ready without kubelets.
//
// It prints one JSON line on stdout once the cluster is usable and stops cleanly
// on SIGTERM/SIGINT (or when its parent process goes away).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		name            = flag.String("name", "testcluster", "cluster name (kubeconfig context, etcd member)")
		dataDir         = flag.String("data-dir", "", "directory for etcd data, certificates and the kubeconfig (default: a new temp dir)")
		port            = flag.Int("port", 0, "apiserver port on 127.0.0.1 (0 = any free port)")
		withKwok        = flag.Bool("kwok", true, "run KWOK, the pod binder and fake Nodes so pods become Running/Ready")
		kwokBin         = flag.String("kwok-binary", "", "path to the kwok binary (default: next to this binary, then PATH)")
		nodes           = flag.Int("nodes", 3, "number of fake Nodes when --kwok is on")
		exitWithParent  = flag.Bool("exit-with-parent", true, "shut down when the parent process goes away")
		readyTimeoutSec = flag.Int("ready-timeout", 180, "seconds to wait for readiness")
	)
	flag.Parse()
	start := time.Now()
	klog.LogToStderr(true)

	if *dataDir == "" {
		d, err := os.MkdirTemp("", "testcluster-"+*name+"-")
		if err != nil {
			return err
		}
		*dataDir = d
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	*dataDir, _ = filepath.Abs(*dataDir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stopping := make(chan struct{})
	go func() {
		<-sigs
		close(stopping)
		<-sigs // a second signal means "now"
		os.Exit(1)
	}()
	if *exitWithParent {
		ppid := os.Getppid()
		go func() {
			for range time.Tick(500 * time.Millisecond) {
				if os.Getppid() != ppid {
					klog.InfoS("parent process went away; shutting down")
					sigs <- syscall.SIGTERM
					return
				}
			}
		}()
	}

	p, err := generatePKI(filepath.Join(*dataDir, "pki"), *name)
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	etcd, etcdURL, err := startEtcd(filepath.Join(*dataDir, "etcd"), *name)
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	defer closeWithin(etcd.Close, 5*time.Second)

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		return fmt.Errorf("listening for the apiserver: %w", err)
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
	kubeconfigPath := filepath.Join(*dataDir, "kubeconfig")
	if err := writeKubeconfig(kubeconfigPath, *name, server, p); err != nil {
		return err
	}

	apiDone := make(chan error, 1)
	go func() { apiDone <- runAPIServer(ctx, ln, etcdURL, *dataDir, p) }()

	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}

	readyTimeout := time.Duration(*readyTimeoutSec) * time.Second
	readyErr := make(chan error, 1)
	go func() {
		readyErr <- waitFor(ctx, readyTimeout, func(ctx context.Context) bool {
			body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil && string(body) == "ok"
		})
	}()
	select {
	case err := <-apiDone:
		return fmt.Errorf("kube-apiserver exited: %v", err)
	case err := <-readyErr:
		if err != nil {
			return fmt.Errorf("kube-apiserver not ready: %w", err)
		}
	case <-stopping:
		return nil
	}

	kcmDone := make(chan error, 1)
	go func() { kcmDone <- runControllerManager(ctx, kubeconfigPath) }()

	var kwokDone <-chan error
	if *withKwok {
		nodeNames, err := createFakeNodes(ctx, client, *nodes)
		if err != nil {
			return fmt.Errorf("creating fake nodes: %w", err)
		}
		go runBinder(ctx, client, nodeNames)
		bin, err := findKwok(*kwokBin)
		if err != nil {
			return fmt.Errorf("kwok binary not found (build it with deploy/testcluster/build.sh or pass --kwok=false): %w", err)
		}
		kwok, done, err := startKwok(ctx, bin, kubeconfigPath, *dataDir)
		if err != nil {
			return err
		}
		kwokDone = done
		defer func() {
			_ = kwok.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				_ = kwok.Process.Kill()
			}
		}()
	}

	// Usable means: the default namespace exists (pods/configmaps can be created
	// there right away) and, for workloads, its ServiceAccount exists too.
	if err := waitFor(ctx, readyTimeout, func(ctx context.Context) bool {
		if _, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false
		}
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return fmt.Errorf("default namespace not ready: %w", err)
	}

	line, _ := json.Marshal(map[string]any{
		"ready":      true,
		"name":       *name,
		"kubeconfig": kubeconfigPath,
		"server":     server,
		"dataDir":    *dataDir,
		"pid":        os.Getpid(),
		"startupMs":  time.Since(start).Milliseconds(),
		"kwok":       *withKwok,
	})
	fmt.Println(string(line))

	select {
	case <-stopping:
	case err := <-apiDone:
		return fmt.Errorf("kube-apiserver exited: %v", err)
	case err := <-kcmDone:
		return fmt.Errorf("kube-controller-manager exited: %v", err)
	case err := <-kwokDone:
		return fmt.Errorf("kwok exited: %v", err)
	}
	klog.InfoS("shutting down")
	cancel()
	select {
	case <-apiDone:
	case <-time.After(3 * time.Second):
	}
	return nil
}

// closeWithin runs f but gives up waiting after d: a stuck shutdown must not keep
// a test run waiting.
func closeWithin(f func(), d time.Duration) {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
