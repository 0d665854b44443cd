//go:build unix

// Command chlocal runs real ClickHouse servers for development and tests,
// with nothing but npm and Go: ClickHouse as a library (npm package
// @chdb/lib-linux-x64-gnu, cached under ~/.cache/weave) loaded into this
// launcher, one process per node (package chlocal).
//
//	go run ./tools/chlocal install                   fetch the library into the cache, print its path
//	go run ./tools/chlocal start --nodes 2 --dir D   start 2 nodes (cluster "weave", one shard each); print their DSNs
//	go run ./tools/chlocal stop --dir D              stop the nodes started in D
//	go run ./tools/chlocal status --dir D            list them and whether they run
//
// Nodes started with start keep running after the command exits; each
// node's data, config and logs are in D/nodeN.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/weavetrace/weave/tools/chlocal/chlocal"
)

const usage = `usage: chlocal install
       chlocal start [--nodes N] [--dir DIR] [--cluster NAME] [--system-logs]
       chlocal stop [--dir DIR]
       chlocal status [--dir DIR]

start prints one DSN per node (clickhouse://default:@127.0.0.1:PORT); every
node lists all of them as the shards of cluster NAME (default weave), so
weave-server --store clickhouse --clickhouse-dsn DSN1 --clickhouse-cluster NAME
--clickhouse-cluster-mode sharded runs on them. DIR defaults to .chlocal.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet("chlocal "+cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	nodes := fs.Int("nodes", 1, "number of nodes")
	dir := fs.String("dir", ".chlocal", "directory of the nodes' data, configs and logs")
	cluster := fs.String("cluster", chlocal.DefaultCluster, "cluster name in remote_servers")
	sysLogs := fs.Bool("system-logs", false, "turn on query_log, part_log and processors_profile_log, for profiling")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "install":
		lib, err := chlocal.Install(ctx, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println(lib)
	case "start":
		c, err := chlocal.Start(ctx, chlocal.Options{Nodes: *nodes, Dir: *dir, Cluster: *cluster, Detach: true, Log: os.Stderr, SystemLogs: *sysLogs})
		if err != nil {
			return err
		}
		for _, dsn := range c.DSNs() {
			fmt.Println(dsn)
		}
	case "stop":
		c, err := chlocal.Load(*dir)
		if err != nil {
			return err
		}
		return c.Stop()
	case "status":
		c, err := chlocal.Load(*dir)
		if err != nil {
			return err
		}
		fmt.Printf("cluster %s in %s: %d of %d node(s) running\n", c.Name, c.Dir, c.Running(), len(c.Nodes))
		for i, n := range c.Nodes {
			fmt.Printf("node%d pid %d %s http://127.0.0.1:%d\n", i+1, n.PID, n.DSN(), n.HTTPPort)
		}
	default:
		fs.Usage()
		return fmt.Errorf("chlocal: unknown command %q", cmd)
	}
	return nil
}
