package framework

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// StartSecretfed starts the secretfed server of the local bed when it is
// not running — typically after a spec killed it — with extra flags (none:
// the suite's defaults), and waits until it serves through the host again.
// RestartSecretfed is the same for a server that runs: it stops it first.
func (f *Framework) StartSecretfed(extraArgs ...string) error {
	return f.secretfedScript(1, "start", extraArgs...)
}

// StopSecretfed stops the secretfed server of the local bed gracefully
// (SIGTERM: it releases its Lease), SIGKILL after 20 s.
func (f *Framework) StopSecretfed() error {
	return f.secretfedScript(1, "stop")
}

// secretfedScript runs hack/local-secretfed.sh for server instance n (1 is
// the bed's, registered as the APIService; see SecretfedInstance).
func (f *Framework) secretfedScript(n int, action string, extraArgs ...string) error {
	args := strings.TrimSpace(os.Getenv("E2E_SECRETFED_ARGS") + " " + strings.Join(extraArgs, " "))
	env := []string{
		"LOCAL_DIR=" + f.Env["LOCAL_DIR"],
		"SECRETFED_V=" + envOr("E2E_SECRETFED_V", "6"),
		"SECRETFED_ARGS=" + args,
		fmt.Sprintf("SECRETFED_INSTANCE=%d", n),
	}
	return f.runScript(env, "hack/local-secretfed.sh", action)
}

// WaitExited waits until the process a component recorded is gone (a
// SIGKILLed process is reaped at once; a SIGTERMed one may take a while).
func (f *Framework) WaitExited(component string, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		// Signal 0 probes existence. A zombie still "exists" until its parent
		// (the bed's setsid shell, which exec'd it: init after that) reaps it,
		// so also look at its state.
		if err := syscall.Kill(pid, 0); err != nil || zombie(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) still runs after %s", component, pid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces, the state follows the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// Poll is Eventually without the test: it polls cond until it returns nil
// or the timeout passes, and returns the last error then. Safe to call from
// goroutines other than the test's.
func Poll(timeout time.Duration, cond func(ctx context.Context) error) error {
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last = cond(ctx)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}
