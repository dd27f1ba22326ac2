// A real gRPC server (@grpc/grpc-js) on 127.0.0.1 standing in for a gRPC application behind sluice.
// Messages are raw bytes (no .proto needed): test.Echo/Unary answers its name, test.Echo/Hang
// never answers, test.Echo/Fail answers NOT_FOUND with a trailer; grpc.health.v1.Health/Check
// answers SERVING while `serving` is true.

import * as grpc from '@grpc/grpc-js';

const bytes = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };

function unary(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path, requestStream: false, responseStream: false,
    requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize,
    responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize,
  };
}

/** test.Echo/Chat: answers every message as it arrives, "<name>:<message>" (bidirectional streaming). */
export const CHAT: grpc.MethodDefinition<Buffer, Buffer> = { ...unary('/test.Echo/Chat'), requestStream: true, responseStream: true };

export const METHODS = {
  unary: unary('/test.Echo/Unary'),
  hang: unary('/test.Echo/Hang'),
  fail: unary('/test.Echo/Fail'),
};

export class GrpcBackend {
  readonly name: string;
  port = 0;
  calls = 0;
  serving = true;
  private server: grpc.Server | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = new grpc.Server();
    server.addService({ Unary: METHODS.unary, Hang: METHODS.hang, Fail: METHODS.fail, Chat: CHAT }, {
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        this.calls++;
        call.on('data', (message: Buffer) => call.write(Buffer.from(`${this.name}:${message.toString()}`)));
        call.on('end', () => call.end());
      },
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        this.calls++;
        done(null, Buffer.from(`${this.name}:${call.request.toString()}`));
      },
      Hang: () => { this.calls++; },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        this.calls++;
        const trailer = new grpc.Metadata();
        trailer.set('x-backend', this.name);
        done({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: trailer });
      },
    });
    server.addService({ Check: unary('/grpc.health.v1.Health/Check') }, {
      // HealthCheckResponse { status: SERVING (1) } or NOT_SERVING (2).
      Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, Buffer.from([0x08, this.serving ? 1 : 2])),
    });
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.server = server;
    return this;
  }

  async kill(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }
}

export function startGrpcBackends(count: number): Promise<GrpcBackend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => new GrpcBackend(`g${i + 1}`).start()));
}

/** One gRPC client channel (one HTTP/2 connection) to `address`. */
export function grpcClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

export interface CallResult {
  value?: string;
  error?: grpc.ServiceError;
  trailers?: grpc.Metadata;
}

export function call(client: grpc.Client, method: grpc.MethodDefinition<Buffer, Buffer>, message = 'hi'): Promise<CallResult> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const c = client.makeUnaryRequest(method.path, bytes.serialize, bytes.deserialize, Buffer.from(message), (error, value) => {
      resolve(error ? { error, trailers } : { value: value?.toString(), trailers });
    });
    c.on('status', (status: grpc.StatusObject) => { trailers = status.metadata; });
  });
}

/** A bidirectional call: messages are read and written as they come. */
export function chat(client: grpc.Client): grpc.ClientDuplexStream<Buffer, Buffer> {
  return client.makeBidiStreamRequest(CHAT.path, bytes.serialize, bytes.deserialize);
}
