package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Pid returns the pid the local bed recorded for a component: "etcd",
// "host", "member1", …, "secretfed".
func (f *Framework) Pid(component string) (int, error) {
	dir := f.Env["PID_DIR"]
	if dir == "" {
		return 0, fmt.Errorf("the bed records no PID_DIR (provider %s)", f.Provider)
	}
	data, err := os.ReadFile(filepath.Join(dir, component+".pid"))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, fmt.Errorf("empty pid file for %s", component)
	}
	return strconv.Atoi(fields[0])
}

// Signal sends sig to a component of the local bed (SIGSTOP freezes a
// member's kube-apiserver as a hung machine would; SIGCONT thaws it).
//
// On the kind provider a component is a cluster's node container, and only
// freezing and thawing it is supported: SIGSTOP is `docker pause`, SIGCONT
// `docker unpause` (the whole node hangs, as a hung machine would).
func (f *Framework) Signal(component string, sig syscall.Signal) error {
	if f.Provider == "kind" {
		return f.kindSignal(component, sig)
	}
	pid, err := f.Pid(component)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

// RestartSecretfed restarts only the secretfed server of the local bed,
// with extra flags (none restores the suite's defaults), and waits until
// it serves through the host again.
func (f *Framework) RestartSecretfed(extraArgs ...string) error {
	args := strings.TrimSpace(os.Getenv("E2E_SECRETFED_ARGS") + " " + strings.Join(extraArgs, " "))
	env := []string{
		"LOCAL_DIR=" + f.Env["LOCAL_DIR"],
		"SECRETFED_V=" + envOr("E2E_SECRETFED_V", "6"),
		"SECRETFED_ARGS=" + args,
	}
	return f.runScript(env, "hack/local-secretfed.sh", "restart")
}
