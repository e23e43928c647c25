package main

// Embedded etcd: one member, loopback only, data in the state directory.

import (
	"context"
	"fmt"
	"net/url"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
)

// etcdStartTimeout bounds the single-member bootstrap, which takes well under a second
// normally; 30 s covers a CI box whose two cores are busy compiling.
const etcdStartTimeout = 30 * time.Second

type etcdServer struct {
	URL string
	e   *embed.Etcd
}

func startEtcd(dataDir string) (*etcdServer, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "testcluster"
	cfg.Dir = dataDir
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	// The data dies with the test session: fsync only costs time (tens of ms per write burst).
	cfg.UnsafeNoFsync = true
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.ListenMetricsUrls = nil
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(etcdStartTimeout):
		e.Close()
		return nil, fmt.Errorf("not ready after %s", etcdStartTimeout)
	}
	return &etcdServer{URL: cu.String(), e: e}, nil
}

func (s *etcdServer) Close() { s.e.Close() }

// compact discards etcd's history up to the current revision, as kube-apiserver's own compactor
// does every 5 minutes, so a test can see "410 Expired" for an old resourceVersion now.
func (s *etcdServer) compact(ctx context.Context) (int64, error) {
	rev := s.e.Server.KV().Rev()
	_, err := s.e.Server.Compact(ctx, &pb.CompactionRequest{Revision: rev, Physical: true})
	return rev, err
}
