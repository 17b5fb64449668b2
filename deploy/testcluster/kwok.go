package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"k8s.io/klog/v2"
)

// findKwok looks for the kwok binary next to this executable (build.sh puts both
// in the same bin dir), then on PATH.
func findKwok(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "kwok")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return exec.LookPath("kwok")
}

// startKwok runs KWOK as a child process. Pdeathsig kills it if this process dies
// without cleaning up. Pdeathsig fires when the *thread* that forked the child
// exits, so the goroutine that starts and waits on it stays locked to its thread.
// Returns a channel closed when the child exits.
func startKwok(ctx context.Context, bin, kubeconfig, dataDir string) (*exec.Cmd, <-chan error, error) {
	cfgPath := filepath.Join(dataDir, "kwok.yaml")
	cfg := "apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions: {}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(filepath.Join(dataDir, "kwok.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin,
		"--config="+cfgPath,
		"--kubeconfig="+kubeconfig,
		"--manage-all-nodes=true",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.240.0.1",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), "HOME="+dataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread must outlive the child for Pdeathsig to mean
		// "parent process died"; Go discards it when this goroutine returns.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		logFile.Close()
		if ctx.Err() == nil {
			klog.ErrorS(err, "kwok exited unexpectedly; see kwok.log", "dir", dataDir)
		}
		done <- err
		close(done)
	}()
	if err := <-started; err != nil {
		return nil, nil, fmt.Errorf("starting kwok %s: %w", bin, err)
	}
	return cmd, done, nil
}
