// TransportRDMA module
