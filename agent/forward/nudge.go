package forward

// SendHeartbeat makes Run publish a heartbeat now, when connected, rather
// than at the next HeartbeatInterval: the relay that receives it resends
// its delivery confirmations. Several relays share the heartbeats (a
// queue group), each knowing what it committed, so an agent that wants
// every relay's confirmations sends a few. It never blocks.
func (f *Forwarder) SendHeartbeat() {
	select {
	case f.connected <- struct{}{}:
	default:
	}
}
