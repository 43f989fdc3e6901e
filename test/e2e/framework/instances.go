package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// SecretfedInstance names server instance n of the local bed as its pid and
// log files do: "secretfed" for 1 (the bed's own, registered as the
// APIService), "secretfed2", "secretfed3", … for the extra servers that
// StartSecretfedInstance runs next to it.
func SecretfedInstance(n int) string {
	if n == 1 {
		return "secretfed"
	}
	return fmt.Sprintf("secretfed%d", n)
}

// StartSecretfedInstance starts server instance n >= 2 next to the bed's
// (hack/local-secretfed.sh with SECRETFED_INSTANCE=n: its own port, pid, log
// and data directory; not registered with the host) and waits for its
// /readyz. It shares the bed's store only if extraArgs point it at the same
// external etcd, prefix and encryption configuration.
func (f *Framework) StartSecretfedInstance(n int, extraArgs ...string) error {
	if n < 2 {
		return fmt.Errorf("instance %d: use StartSecretfed for the bed's own server", n)
	}
	return f.secretfedScript(n, "start", extraArgs...)
}

// StopSecretfedInstance stops server instance n gracefully (n = 1 is the
// bed's own server).
func (f *Framework) StopSecretfedInstance(n int) error {
	return f.secretfedScript(n, "stop")
}

// SecretfedInstanceURL is where instance n serves: SECRETFED_PORT+10*(n-1),
// as hack/local-secretfed.sh assigns it.
func (f *Framework) SecretfedInstanceURL(n int) string {
	port, _ := strconv.Atoi(f.Env["SECRETFED_PORT"])
	return fmt.Sprintf("https://127.0.0.1:%d", port+10*(n-1))
}

// SecretfedInstanceConfig is the host admin's client configuration aimed
// straight at instance n, bypassing the host's aggregator (system:masters is
// allowed without asking the host).
func (f *Framework) SecretfedInstanceConfig(n int) *rest.Config {
	cfg := f.RESTConfig(f.HostContext)
	cfg.Host = f.SecretfedInstanceURL(n)
	cfg.TLSClientConfig.CAData, cfg.TLSClientConfig.CAFile = nil, f.Env["SECRETFED_CA_FILE"]
	return cfg
}

// ComponentLog returns what a component of the local bed logged since its
// latest start (logs are appended across restarts).
func (f *Framework) ComponentLog(component string) (string, error) {
	data, err := os.ReadFile(filepath.Join(f.Env["LOG_DIR"], component+".log"))
	if err != nil {
		return "", err
	}
	s := string(data)
	if i := strings.LastIndex(s, "local-up starting "+component+"\n"); i >= 0 {
		s = s[i:]
	}
	return s, nil
}

// RestartComponent restarts etcd, host or a member of the local bed with the
// command line it was started with (hack/local-restart.sh), stopping it first
// if it still runs, and waits until it is ready again.
func (f *Framework) RestartComponent(component string) error {
	env := []string{"LOCAL_DIR=" + f.Env["LOCAL_DIR"], "STOP_TIMEOUT=10"}
	return f.runScript(env, "hack/local-restart.sh", component)
}
