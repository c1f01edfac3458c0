"""The Open Inference Protocol (V2) over HTTP: a transport-free data plane (``dataplane``), the V2 codec
(``v2_codec``), and a thin FastAPI shell built by ``app.create_app``. Import the submodules you need."""
