namespace TokenPool.Bench;

/// <summary>nginx configurations: the fixed-reply upstream, and the plain reverse proxy reference. One worker each.</summary>
internal static class Nginx
{
    public static string? Find() =>
        new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx" }.FirstOrDefault(File.Exists);

    public static string UpstreamConfig(string dir, int port) => Common(dir, "upstream") + $$"""
        http {
          access_log off;
          {{Temp(dir, "upstream")}}
          keepalive_requests 10000000;
          keepalive_timeout 300s;
          server {
            listen 127.0.0.1:{{port}} backlog=4096;
            location = /v1/responses {
              default_type text/event-stream;
              add_header Cache-Control no-cache;
              return 200 '{{Canned.Stream}}';
            }
            location = /ready { return 200 'ok'; }
          }
        }
        """;

    public static string ProxyConfig(string dir, int port, int fixedPort, int pacedPort) => Common(dir, "proxy") + $$"""
        http {
          access_log off;
          {{Temp(dir, "proxy")}}
          keepalive_requests 10000000;
          keepalive_timeout 300s;
          upstream fixed_upstream { server 127.0.0.1:{{fixedPort}}; keepalive 256; keepalive_requests 10000000; }
          upstream paced_upstream { server 127.0.0.1:{{pacedPort}}; keepalive 256; keepalive_requests 10000000; }
          map $http_x_bench_mode $bench_backend {
            default fixed_upstream;
            paced paced_upstream;
            slow paced_upstream;
            warm paced_upstream;
          }
          server {
            listen 127.0.0.1:{{port}} backlog=4096;
            location = /ready { return 200 'ok'; }
            location / {
              proxy_pass http://$bench_backend;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
              proxy_buffering off;
              proxy_request_buffering off;
              proxy_read_timeout 600s;
            }
          }
        }
        """;

    private static string Common(string dir, string name) => $"""
        {(Environment.UserName == "root" ? "user root;" : "")}
        worker_processes 1;
        worker_rlimit_nofile 16384;
        daemon off;
        pid {dir}/{name}.pid;
        error_log {dir}/{name}-error.log warn;
        events {"{"} worker_connections 8192; {"}"}

        """;

    private static string Temp(string dir, string name) =>
        string.Join(' ', new[] { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" }.Select(t => $"{t}_temp_path {dir}/{name}-{t};"));
}
