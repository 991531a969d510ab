import ednas_tf, tensorflow as tf
s=tf.distribute.MirroredStrategy(["/cpu:0"])
with s.scope(): g=tf.random.Generator.from_seed(7)
r=tf.random.Generator.from_seed(7)
a=s.run(tf.function(lambda: g.uniform((4,))))
print("folded differs:", not bool(tf.reduce_all(a==r.uniform((4,)))))
