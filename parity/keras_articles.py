"""The four Keras articles' own model-building code and training-iteration bodies,
runnable today on TensorFlow's Keras 2 API (`tf_keras`, with the
`optimizers.legacy` classes that keep the Keras 2 update rules and `lr` argument).

Shared by the step-parity drivers (`parity/article_000.py`, `_001`, `_003`, `_004`)
and the TensorFlow speed peer (`benches/peers/tf_keras.py`). The code between the
`article NNN` markers is the article's text with only the changes listed in
`CHANGES` below; every random draw of a loop body (noise, real-batch indices,
sampled labels) is taken from a `Source` object, so that the parity drivers can
hand in the draws ganlab recorded and the peer can draw its own.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tf_keras import backend as K
from tf_keras import layers
from tf_keras.layers import (Activation, BatchNormalization, Conv2D, Conv2DTranspose, Dense, Dropout, Embedding,
                             Flatten, Input, LeakyReLU, MaxPooling2D, Permute, Reshape, UpSampling2D)
from tf_keras.initializers import VarianceScaling
from tf_keras.models import Model, Sequential
from tf_keras.optimizers.legacy import SGD, Adam

# Every change made to the articles' code to run it on tf_keras 2.21, and why.
CHANGES = {
    "all": [
        "imports come from tf_keras (Keras 2 API) instead of `keras`, and Adam/SGD from "
        "tf_keras.optimizers.legacy: Keras 3 (today's `keras`) changes the optimiser update rules, "
        "drops `lr=` and the Keras 1 argument names these articles use",
        "np.random draws and the data loading are replaced by a Source (recorded draws for parity, "
        "fresh ones for timing)",
        "a `dropout` argument on the discriminator builders (default: the article's rate): parity runs "
        "pass 0 on both sides because dropout masks cannot match across frameworks",
        "Keras lists of labels (`[1] * BATCH_SIZE`) are passed as numpy arrays: tf_keras reads a "
        "Python list as one input per element",
        "reference runs only (`reference.py`): D's compile() lists two metrics, the mean D output on the "
        "batch's reals and on its fakes (`d_real`, `d_fake`), read from the training forward pass itself; "
        "the update is unchanged (parity and the speed peer compile without them)",
    ],
    "000": [
        "loss stays 'binary_crossentropy': tf_keras computes it from the sigmoid's logits, which is "
        "what ganlab's spec (`loss.bce: logits`) reproduces",
        "the epoch loop and draw_images() are dropped: one call of the loop body is one iteration",
    ],
    "001": [
        "Dense(input_dim=100, output_dim=1024) -> Dense(units=1024, input_dim=100): Keras 1 name, "
        "removed in Keras 2.2 (the notebook printed the deprecation warning)",
        "binary cross-entropy is Keras 2.0's TF-backend form (clip p to [1e-7, 1-1e-7], back to a "
        "logit, sigmoid cross-entropy): tf_keras would use the sigmoid's logits instead",
        "the image saving every 100 batches and the weight saving are dropped",
    ],
    "003": [
        "D's Flatten() -> Flatten(data_format='channels_last'): Keras 2.0's Flatten had no data_format "
        "and flattened the channels_first features in (c, h, w) order; tf_keras's Flatten, built under "
        "channels_first, first moves the channels last, i.e. (h, w, c) order (measured: D(real) 0.4964 vs "
        "0.4913 from the same weights). Only the order of the Dense heads' rows depends on it",
        "binary and sparse categorical cross-entropies are Keras 2.0's TF-backend forms (clipped "
        "probabilities), as the article ran them; tf_keras would use the logits",
        "Adam(lr=adam_lr, beta_1=adam_beta_1) -> the same with epsilon=1e-8: the article's Keras 2.0.9 "
        "defaulted to 1e-8 (epsilon=None -> K.epsilon() = 1e-7 came in Keras 2.1.3); tf_keras's default is 1e-7",
        "kernel_initializer/embeddings_initializer='glorot_normal' -> keras20_glorot_normal(): Keras 2.0's "
        "glorot_normal is N(0, sqrt(2 / (fan_in + fan_out))) truncated at 2 sigma; tf_keras's divides sigma "
        "by 0.8796 first (Keras >= 2.2.0), 14 % wider (parity loads ganlab's weights, so only reference runs "
        "see it)",
        "the per-epoch evaluation, pickling, image and weight saving are dropped (not part of a step)",
        "parity only (nhwc=True): the convolutions run channels_last between Permute layers (NCHW->NHWC "
        "after the Reshape and at D's input, back before G's output and D's Flatten), because "
        "TensorFlow's own CPU Conv2D has no NCHW kernel (only oneDNN's, which parity turns off); every "
        "tensor outside the Permutes, and so every Dense and Flatten order, is the article's",
        "K.set_image_data_format('channels_first') is set while the models are built and restored "
        "afterwards (the layers keep it), so that other articles can share the process",
    ],
    "004": [
        "loss stays 'binary_crossentropy': the article's code is TensorFlow 2 (tf.random.normal, "
        "training=False), whose tf.keras computes it from the sigmoid's logits, as tf_keras does "
        "(ganlab's era tf.keras-2: `loss.bce: logits`)",
        "generate_real_samples/generate_latent_points draw from the Source (randint/randn)",
        "`d_loss, _ = d_model.train_on_batch(X, y)` keeps the whole output (loss, accuracy and, in "
        "reference runs, the D-output metrics)",
    ],
}

EPS = 1e-7  # K.epsilon()


def keras20_binary_crossentropy(y_true, y_pred):
    """Keras 2.0-2.2.4 `losses.binary_crossentropy` on the TF backend: the probability
    clipped to [eps, 1 - eps], turned back into a logit, sigmoid cross-entropy."""
    y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
    p = tf.clip_by_value(tf.identity(y_pred), EPS, 1 - EPS)
    z = tf.math.log(p / (1 - p))
    return K.mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=z), axis=-1)


def keras20_sparse_categorical_crossentropy(y_true, y_pred):
    """Keras 2.0 `losses.sparse_categorical_crossentropy` on the TF backend: p
    renormalised and clipped, its log used as logits of a softmax cross-entropy."""
    p = tf.identity(y_pred)
    p = p / tf.reduce_sum(p, axis=-1, keepdims=True)
    p = tf.clip_by_value(p, EPS, 1 - EPS)
    labels = tf.cast(tf.reshape(y_true, [-1]), tf.int64)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.math.log(p))


# Keras 2.0's Adam epsilon (article 003's era; tf_keras's legacy Adam defaults to 1e-7).
KERAS20_ADAM_EPSILON = 1e-8


def keras20_glorot_normal():
    """Keras 2.0's `glorot_normal`: VarianceScaling(1, 'fan_avg', 'normal'), i.e.
    K.truncated_normal(shape, 0, sqrt(2 / (fan_in + fan_out))), a normal truncated at
    two standard deviations and not rescaled. tf_keras's VarianceScaling divides the
    standard deviation by 0.87962566 (the truncated normal's own) first, so a scale
    of 0.87962566 ** 2 gives back the unscaled draw."""
    return VarianceScaling(scale=0.87962566103423978 ** 2, mode='fan_avg', distribution='truncated_normal')


def d_real(y_true, y_pred):
    """Reference runs only: the mean D output on the batch's reals (target 1), from the
    training forward pass (Dropout on), as ganlab logs `d_real`."""
    y_true = tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))
    mask = tf.cast(y_true > 0.5, y_pred.dtype)
    return tf.reduce_sum(y_pred * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def d_fake(y_true, y_pred):
    """Reference runs only: the mean D output on the batch's fakes (target 0)."""
    y_true = tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))
    mask = tf.cast(y_true < 0.5, y_pred.dtype)
    return tf.reduce_sum(y_pred * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


class Source:
    """Where a loop body's random draws come from: fresh numpy draws by default."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def normal(self, shape):
        return self.rng.standard_normal(shape).astype(np.float32)

    def uniform(self, shape):
        return self.rng.uniform(-1, 1, shape).astype(np.float32)

    def labels(self, n):
        return self.rng.integers(0, 10, n)

    def real(self, n, lo, hi, shape):
        """A real batch (and its labels), random pixels of the data's range."""
        return self.rng.uniform(lo, hi, (n,) + shape).astype(np.float32), self.rng.integers(0, 10, n)


# ---- article 000 (Keras vanilla GAN, LiMeng 2021) ----
def build_generator_000():
    model = Sequential()
    model.add(Dense(units=256, input_dim=100))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dense(units=512))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dense(units=1024))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dense(units=784, activation='tanh'))
    model.compile(loss='binary_crossentropy', optimizer=Adam(0.0002, 0.5))
    return model


def build_discriminator_000(dropout=0.3, metrics=None):
    model = Sequential()
    model.add(Dense(units=1024, input_dim=784))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dropout(dropout))
    model.add(Dense(units=512))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dropout(dropout))
    model.add(Dense(units=256))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dropout(dropout))
    model.add(Dense(units=1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer=Adam(0.0002, 0.5), metrics=metrics)
    return model


def build_GAN_000(discriminator, generator):
    discriminator.trainable = False
    GAN_input = Input(shape=(100,))
    x = generator(GAN_input)
    GAN_output = discriminator(x)
    GAN = Model(inputs=GAN_input, outputs=GAN_output)
    GAN.compile(loss='binary_crossentropy', optimizer=Adam(0.0002, 0.5))
    return GAN


def article_000(dropout=0.3, metrics=None):
    generator = build_generator_000()
    discriminator = build_discriminator_000(dropout, metrics)
    GAN = build_GAN_000(discriminator, generator)
    return {"generator": generator, "discriminator": discriminator, "GAN": GAN}


def step_000(m, src, batch_size=128):
    """One pass of train_GAN's inner loop; returns (d_loss, g_loss)."""
    generator, discriminator, GAN = m["generator"], m["discriminator"], m["GAN"]
    noise = src.normal((batch_size, 100))
    fake_images = generator.predict(noise, verbose=0)
    real_images = src.real(batch_size, -1, 1, (784,))[0]
    label_fake = np.zeros(batch_size)
    label_real = np.ones(batch_size)
    X = np.concatenate([fake_images, real_images])
    y = np.concatenate([label_fake, label_real])
    discriminator.trainable = True
    d_loss = discriminator.train_on_batch(X, y)
    discriminator.trainable = False
    g_loss = GAN.train_on_batch(noise, label_real)
    return d_loss, g_loss


# ---- article 001 (keras-dcgan notebook, 2017) ----
def generator_model_001():
    model = Sequential()
    model.add(Dense(units=1024, input_dim=100))
    model.add(Activation('tanh'))
    model.add(Dense(128 * 7 * 7))
    model.add(BatchNormalization())
    model.add(Activation('tanh'))
    model.add(Reshape((7, 7, 128), input_shape=(128 * 7 * 7,)))
    model.add(UpSampling2D(size=(2, 2)))
    model.add(Conv2D(64, (5, 5), padding='same'))
    model.add(Activation('tanh'))
    model.add(UpSampling2D(size=(2, 2)))
    model.add(Conv2D(1, (5, 5), padding='same'))
    model.add(Activation('tanh'))
    return model


def discriminator_model_001():
    model = Sequential()
    model.add(Conv2D(64, (5, 5), padding='same', input_shape=(28, 28, 1)))
    model.add(Activation('tanh'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Conv2D(128, (5, 5)))
    model.add(Activation('tanh'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(1024))
    model.add(Activation('tanh'))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    return model


def generator_containing_discriminator_001(g, d):
    model = Sequential()
    model.add(g)
    d.trainable = False
    model.add(d)
    return model


def article_001(loss=keras20_binary_crossentropy, metrics=None):
    d = discriminator_model_001()
    g = generator_model_001()
    d_on_g = generator_containing_discriminator_001(g, d)
    d_optim = SGD(lr=0.001, momentum=0.9, nesterov=True)
    g_optim = SGD(lr=0.001, momentum=0.9, nesterov=True)
    g.compile(loss=loss, optimizer="SGD")
    d_on_g.compile(loss=loss, optimizer=g_optim)
    d.trainable = True
    d.compile(loss=loss, optimizer=d_optim, metrics=metrics)
    return {"g": g, "d": d, "d_on_g": d_on_g}


def step_001(m, src, BATCH_SIZE=128):
    """One pass of train(BATCH_SIZE)'s inner loop; returns (d_loss, g_loss)."""
    g, d, d_on_g = m["g"], m["d"], m["d_on_g"]
    noise = src.uniform((BATCH_SIZE, 100))
    image_batch = src.real(BATCH_SIZE, -1, 1, (28, 28, 1))[0]
    generated_images = g.predict(noise, verbose=0)
    X = np.concatenate((image_batch, generated_images))
    y = np.array([1] * BATCH_SIZE + [0] * BATCH_SIZE)
    d_loss = d.train_on_batch(X, y)
    noise = src.uniform((BATCH_SIZE, 100))
    d.trainable = False
    g_loss = d_on_g.train_on_batch(noise, np.array([1] * BATCH_SIZE))
    d.trainable = True
    return d_loss, g_loss


# ---- article 003 (Keras mnist_acgan.py, channels_first) ----
num_classes = 10


def build_generator_003(latent_size, nhwc=False):
    # nhwc (parity only): the convolutions run channels_last between two Permute
    # layers, so every tensor outside them is the article's channels_first one.
    fmt = {"data_format": "channels_last"} if nhwc else {}
    cnn = Sequential()
    cnn.add(Dense(1024, input_dim=latent_size, activation='relu'))
    cnn.add(Dense(128 * 7 * 7, activation='relu'))
    cnn.add(Reshape((128, 7, 7)))
    if nhwc:
        cnn.add(Permute((2, 3, 1)))
    cnn.add(UpSampling2D(size=(2, 2), **fmt))
    cnn.add(Conv2D(256, 5, padding='same', activation='relu', kernel_initializer=keras20_glorot_normal(), **fmt))
    cnn.add(UpSampling2D(size=(2, 2), **fmt))
    cnn.add(Conv2D(128, 5, padding='same', activation='relu', kernel_initializer=keras20_glorot_normal(), **fmt))
    cnn.add(Conv2D(1, 2, padding='same', activation='tanh', kernel_initializer=keras20_glorot_normal(), **fmt))
    if nhwc:
        cnn.add(Permute((3, 1, 2)))
    latent = Input(shape=(latent_size, ))
    image_class = Input(shape=(1,), dtype='int32')
    cls = Flatten()(Embedding(num_classes, latent_size, embeddings_initializer=keras20_glorot_normal())(image_class))
    h = layers.multiply([latent, cls])
    fake_image = cnn(h)
    return Model([latent, image_class], fake_image)


def build_discriminator_003(dropout=0.3, nhwc=False):
    fmt = {"data_format": "channels_last"} if nhwc else {}
    cnn = Sequential()
    if nhwc:
        cnn.add(Permute((2, 3, 1), input_shape=(1, 28, 28)))
        cnn.add(Conv2D(32, 3, padding='same', strides=2, **fmt))
    else:
        cnn.add(Conv2D(32, 3, padding='same', strides=2,
                       input_shape=(1, 28, 28)))
    cnn.add(LeakyReLU())
    cnn.add(Dropout(dropout))
    cnn.add(Conv2D(64, 3, padding='same', strides=1, **fmt))
    cnn.add(LeakyReLU())
    cnn.add(Dropout(dropout))
    cnn.add(Conv2D(128, 3, padding='same', strides=2, **fmt))
    cnn.add(LeakyReLU())
    cnn.add(Dropout(dropout))
    cnn.add(Conv2D(256, 3, padding='same', strides=1, **fmt))
    cnn.add(LeakyReLU())
    cnn.add(Dropout(dropout))
    if nhwc:
        cnn.add(Permute((3, 1, 2)))
    cnn.add(Flatten(data_format='channels_last'))
    image = Input(shape=(1, 28, 28))
    features = cnn(image)
    fake = Dense(1, activation='sigmoid', name='generation')(features)
    aux = Dense(num_classes, activation='softmax', name='auxiliary')(features)
    return Model(image, [fake, aux])


def article_003(dropout=0.3, losses=(keras20_binary_crossentropy, keras20_sparse_categorical_crossentropy), nhwc=False,
                metrics=None):
    previous = K.image_data_format()
    K.set_image_data_format('channels_first')
    latent_size = 100
    adam_lr = 0.00005
    adam_beta_1 = 0.5
    discriminator = build_discriminator_003(dropout, nhwc)
    discriminator.compile(optimizer=Adam(lr=adam_lr, beta_1=adam_beta_1, epsilon=KERAS20_ADAM_EPSILON), loss=list(losses),
                          metrics=metrics)
    generator = build_generator_003(latent_size, nhwc)
    generator.compile(optimizer=Adam(lr=adam_lr, beta_1=adam_beta_1, epsilon=KERAS20_ADAM_EPSILON), loss=losses[0])
    latent = Input(shape=(latent_size, ))
    image_class = Input(shape=(1,), dtype='int32')
    fake = generator([latent, image_class])
    discriminator.trainable = False
    fake, aux = discriminator(fake)
    combined = Model([latent, image_class], [fake, aux])
    combined.compile(optimizer=Adam(lr=adam_lr, beta_1=adam_beta_1, epsilon=KERAS20_ADAM_EPSILON), loss=list(losses))
    K.set_image_data_format(previous)
    return {"generator": generator, "discriminator": discriminator, "combined": combined}


def step_003(m, src, batch_size=100, latent_size=100):
    """One pass of the batch loop; returns the two train_on_batch outputs
    ([total, generation, auxiliary] each)."""
    generator, discriminator, combined = m["generator"], m["discriminator"], m["combined"]
    noise = src.uniform((batch_size, latent_size))
    image_batch, label_batch = src.real(batch_size, -1, 1, (1, 28, 28))
    sampled_labels = src.labels(batch_size)
    generated_images = generator.predict([noise, sampled_labels.reshape((-1, 1))], verbose=0)
    x = np.concatenate((image_batch, generated_images))
    y = np.array([1] * batch_size + [0] * batch_size)
    aux_y = np.concatenate((label_batch, sampled_labels), axis=0)
    d_out = discriminator.train_on_batch(x, [y, aux_y])
    noise = src.uniform((2 * batch_size, latent_size))
    sampled_labels = src.labels(2 * batch_size)
    trick = np.ones(2 * batch_size)
    g_out = combined.train_on_batch([noise, sampled_labels.reshape((-1, 1))], [trick, sampled_labels])
    return d_out, g_out


# ---- article 004 (DCGAN with Conv2DTranspose, after Brownlee) ----
def define_generator_004(latent_dim):
    model = Sequential()
    n_nodes = 128 * 7 * 7
    model.add(Dense(n_nodes, input_dim=latent_dim))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Reshape((7, 7, 128)))
    model.add(Conv2DTranspose(128, (4, 4), strides=(2, 2), padding='same'))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Conv2DTranspose(128, (4, 4), strides=(2, 2), padding='same'))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Conv2D(1, (7, 7), activation='sigmoid', padding='same'))
    return model


def define_discriminator_004(in_shape=(28, 28, 1), dropout=0.4, loss='binary_crossentropy', metrics=('accuracy',)):
    model = Sequential()
    model.add(Conv2D(64, (3, 3), strides=(2, 2), padding='same', input_shape=in_shape))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dropout(dropout))
    model.add(Conv2D(64, (3, 3), strides=(2, 2), padding='same'))
    model.add(LeakyReLU(alpha=0.2))
    model.add(Dropout(dropout))
    model.add(Flatten())
    model.add(Dense(1, activation='sigmoid'))
    opt = Adam(lr=0.0002, beta_1=0.5)
    model.compile(loss=loss, optimizer=opt, metrics=list(metrics))
    return model


def define_gan_004(g_model, d_model, loss='binary_crossentropy'):
    d_model.trainable = False
    model = Sequential()
    model.add(g_model)
    model.add(d_model)
    opt = Adam(lr=0.0002, beta_1=0.5)
    model.compile(loss=loss, optimizer=opt)
    return model


def article_004(dropout=0.4, metrics=()):
    latent_dim = 100
    d_model = define_discriminator_004(dropout=dropout, metrics=('accuracy',) + tuple(metrics))
    g_model = define_generator_004(latent_dim)
    gan_model = define_gan_004(g_model, d_model)
    return {"g_model": g_model, "d_model": d_model, "gan_model": gan_model}


def step_004(m, src, latent_dim=100, n_batch=256):
    """One pass of train()'s inner loop; returns (d_loss, g_loss)."""
    g_model, d_model, gan_model = m["g_model"], m["d_model"], m["gan_model"]
    half_batch = int(n_batch / 2)

    def generate_real_samples(n_samples):
        X = src.real(n_samples, 0, 1, (28, 28, 1))[0]
        y = np.ones((n_samples, 1))
        return X, y

    def generate_latent_points(latent_dim, n_samples):
        x_input = src.normal(latent_dim * n_samples)
        x_input = x_input.reshape(n_samples, latent_dim)
        return x_input

    def generate_fake_samples(g_model, latent_dim, n_samples):
        x_input = generate_latent_points(latent_dim, n_samples)
        X = g_model.predict(x_input, verbose=0)
        y = np.zeros((n_samples, 1))
        return X, y

    X_real, y_real = generate_real_samples(half_batch)
    X_fake, y_fake = generate_fake_samples(g_model, latent_dim, half_batch)
    X, y = np.vstack((X_real, X_fake)), np.vstack((y_real, y_fake))
    d_loss = d_model.train_on_batch(X, y)
    X_gan = generate_latent_points(latent_dim, n_batch)
    y_gan = np.ones((n_batch, 1))
    g_loss = gan_model.train_on_batch(X_gan, y_gan)
    return d_loss, g_loss


ARTICLES = {
    "vanilla_mlp_keras": (article_000, step_000),
    "tanh_cnn_sgd": (article_001, step_001),
    "acgan": (article_003, step_003),
    "dcgan": (article_004, step_004),
}
